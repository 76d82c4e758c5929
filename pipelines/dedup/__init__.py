"""``dedup``: exact and MinHash-LSH fuzzy deduplication across the whole corpus, on Dask, on CPUs.

Input: a previous stage's output directory (``part-*.parquet``). Four phases; the work lives in
``OUT/_work/`` (the runner's work folder) and phases 1-3 are skipped on a rerun once they finished:

1. **signatures** (:mod:`pipelines.dedup.signatures`, one pure task per input file): normalize text, 64-bit
   exact hash, MinHash signature (:mod:`pipelines.dedup.minhash`), one key per LSH band.
2. **candidates** (:mod:`pipelines.dedup.candidates`, Dask DataFrame shuffles): every exact duplicate is an
   edge to its group's best document; documents sharing a band bucket become candidate pairs (exact
   duplicates collapsed first); optionally each pair is verified by the true Jaccard of its shingle sets.
3. **components and keepers** (:mod:`pipelines.dedup.components`, :mod:`pipelines.dedup.keepers`): the
   keeper of a component is its best document by ``keep_order`` (default: highest ``quality_score``, then
   earliest ``crawl_date``, then smallest ``id``); every other member is removed as ``exact_duplicate`` (same
   exact hash as the keeper) or ``near_duplicate``. Decisions are written per input file to
   ``_work/assign/<i>.parquet``.
4. **filter** (the runner, one pure task per input file): kept documents get ``dup_cluster`` (the
   keeper's id when they head a cluster, else null); removed ones carry ``dup_cluster`` and ``dup_of``.

Beside its output, a run keeps the signatures of the documents it kept (``OUT/signatures/``); a later run with
``against: [THAT_OUT]`` (``--against``) removes every new document that is an exact or near duplicate of one of
them as ``duplicate_of_prior`` (:mod:`pipelines.dedup.prior`), and only reads that folder.

:mod:`pipelines.dedup.phases` runs 1-3 from :meth:`DedupStage.prepare`. ``stats.json`` adds ``dedup``:
clusters, cluster-size histogram, candidate pairs, verification cost and phase timings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc

from corpus_forge.io import path_exists, read_json, read_parquet
from corpus_forge.stage import DocumentStage, Partition, PartitionResult, RunContext, read_partition
from corpus_forge.stats import Counters
from pipelines.dedup.candidates import bucket_pairs, exact_edges, pair_jaccard, shingle_sets
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.keepers import EXACT, NEAR, PRIOR, apply_assignments, choose_keepers, histogram
from pipelines.dedup.phases import run_global_phases
from pipelines.dedup.prior import check_prior, remove_stale_index, write_index
from pipelines.dedup.signatures import rank_keys, sign_table

__all__ = ["EXACT", "NEAR", "PRIOR", "DedupConfig", "DedupContext", "DedupStage", "apply_assignments", "bucket_pairs",
           "choose_keepers", "exact_edges", "histogram", "pair_jaccard", "rank_keys", "shingle_sets", "sign_table"]


@dataclass(frozen=True)
class DedupContext:
    """What every filter task needs: where the decisions are, file index by partition key, failed files, and
    where the kept documents' signatures go.

    (An object, not a dict: ``Client.scatter`` would scatter a dict's values under its keys as names.)
    """

    assign_dir: str
    index: dict[str, int]
    failed: dict[int, str]
    work_dir: str
    out_dir: str


class DedupStage(DocumentStage):
    """Filters each input file by the decisions of the global phases (run in :meth:`prepare`)."""

    name = "dedup"
    Config = DedupConfig
    help = "exact + MinHash-LSH near-duplicate removal across the corpus"

    def check(self) -> None:
        """Each ``against`` folder is a finished dedup output hashed as this run hashes (before any work)."""
        for k, prior in enumerate(self.config.against):
            check_prior(prior, self.config, f"dedup.against[{k}]")

    def inputs_identity(self, partitions: list[Partition]) -> Any:
        """What the prior runs hold: a prior redone since (other inputs or options) redoes this run."""
        return [read_json(os.path.join(p, "_stage.json")).get("partitions_sha256") for p in self.config.against]

    def prepare(self, partitions: list[Partition], run: RunContext) -> DedupContext:
        summary = run_global_phases(self.config, partitions, run.work_dir, run.client)
        return DedupContext(os.path.join(run.work_dir, "assign"), {p.key: i for i, p in enumerate(partitions)},
                            {f["index"]: f["error"] for f in summary["failed_files"]}, run.work_dir, run.out_dir)

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        if ctx is None:
            raise RuntimeError("dedup: process() needs the context from prepare() (the global phases)")
        index = ctx.index[part.key]
        if index in ctx.failed:  # never pass a file through undeduplicated
            raise RuntimeError(f"dedup: could not sign {part.path}: {ctx.failed[index]}")
        table = read_partition(part)
        path = os.path.join(ctx.assign_dir, f"{index:06d}.parquet")
        assign = read_parquet(path) if path_exists(path) else None
        res = apply_assignments(table, assign)
        kept = np.ones(table.num_rows, dtype=bool)
        if assign is not None:
            kept[assign.filter(pc.is_valid(assign["reason"]))["row"].to_numpy()] = False
        kept_rows = np.flatnonzero(kept)
        write_index(ctx.work_dir, index, kept_rows, ctx.out_dir, part.key)  # for a later run's --against
        return res

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        remove_stale_index(run.out_dir, {m["key"] for m in markers})
        path = os.path.join(run.work_dir, "summary.json")
        if not path_exists(path):
            return {}
        return {"dedup": read_json(path), **({"against": self.config.against} if self.config.against else {})}
