"""The global phases of dedup (1-3), run once from :meth:`DedupStage.prepare`; the work runs on the cluster.

Each phase is one function: signatures (one task per input file), exact edges and fuzzy candidate edges (Dask
DataFrame shuffles), then components and keepers, whose decisions land in ``_work/assign/<i>.parquet``. The
runner owns ``_work/``: it clears it when the configuration or the inputs change, so a ``summary.json`` found
there belongs to this run and means phases 1-3 are done.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from corpus_forge.io import absolute, make_dirs, path_exists, read_json, remove_tree, write_json_atomic
from corpus_forge.stage import Partition
from pipelines.dedup.candidates import (
    EDGES_META,
    SETS_META,
    VERIFIED_META,
    bucket_pairs,
    exact_edges,
    pair_jaccard,
    shingle_sets,
)
from pipelines.dedup.components import connected_components
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.keepers import choose_keepers, histogram_of_counts, write_assignments
from pipelines.dedup.prior import load_prior, prior_files
from pipelines.dedup.signatures import sign_partition

SHUFFLE_PARTITION_BYTES = 128 * 2**20  # target size of one shuffled partition
SMALL_SHUFFLE_ROWS = 2_000_000  # below this, the task-based shuffle (p2p pays off only at scale)
MAX_READ_TASKS = 100_000  # verification: files read per task is about files / this, at least one task per file


def npartitions(total_rows: int, bands: int) -> int:
    """Shuffle partitions: ~128 MiB of band rows (24 bytes per document and band) each."""
    return max(1, min(100_000, math.ceil(total_rows * bands * 24 / SHUFFLE_PARTITION_BYTES)))


@dataclass(frozen=True)
class Signed:
    """What phase 1 left in the work folder."""

    meta_files: list[str]
    band_files: list[str]
    failed: list[dict[str, Any]]  # {index, input, error} per file that could not be signed
    documents: int
    text_bytes: int
    cpu_seconds: float


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - t0, 3)


def run_global_phases(cfg: DedupConfig, partitions: list[Partition], work_dir: str, client: Any) -> dict[str, Any]:
    """Phases 1-3 over all input files on ``client``; returns the summary (also ``work_dir/summary.json``)."""
    summary_path = os.path.join(work_dir, "summary.json")
    if path_exists(summary_path):
        return read_json(summary_path)
    make_dirs(work_dir)
    assign_dir = os.path.join(work_dir, "assign")
    if path_exists(assign_dir):  # phases 2-3 restart from the signatures
        remove_tree(assign_dir)
    timings: dict[str, float] = {}
    paths = [p.path for p in partitions]
    with client.as_current():
        with _timed(timings, "signatures"):
            signed = sign_all(cfg, partitions, work_dir, client)
        if cfg.against:
            with _timed(timings, "prior"):
                prior, prior_paths = load_priors(cfg.against, len(partitions), work_dir, client)
            signed, paths = with_prior(signed, prior), paths + prior_paths
        nparts = npartitions(signed.documents, cfg.band_rows()[0])
        shuffle = {"dataframe.shuffle.method": "tasks"} if signed.documents < SMALL_SHUFFLE_ROWS else {}
        import dask

        with dask.config.set(shuffle):
            stats = edges_and_keepers(cfg, signed, paths, assign_dir, nparts, timings, client)
    summary = {
        "signed_files": len(signed.meta_files) - (len(prior.meta_files) if cfg.against else 0),
        "failed_files": signed.failed,
        **({"against": {"dirs": cfg.against, "files": len(prior.meta_files), "documents": prior.documents}}
           if cfg.against else {}),
        **stats.pop("clusters_summary"),
        "shuffle_partitions": nparts,
        "signature_mb_per_cpu_second": round(signed.text_bytes / 1e6 / signed.cpu_seconds, 2)
        if signed.cpu_seconds else None,
        **stats,
        "phase_seconds": timings,
    }
    write_json_atomic(summary, summary_path)
    return summary


def sign_all(cfg: DedupConfig, partitions: list[Partition], work_dir: str, client: Any) -> Signed:
    """Phase 1: one task per input file (skipped for files already signed)."""
    futures = client.map(sign_partition, partitions, range(len(partitions)), cfg=cfg, work_dir=work_dir,
                         pure=False, key=[f"dedup-sign-{i}-{os.urandom(4).hex()}" for i in range(len(partitions))])
    signed = client.gather(futures)
    ok = [s["index"] for s in signed if "error" not in s]
    return Signed(
        meta_files=[os.path.join(work_dir, "meta", f"{i:06d}.parquet") for i in ok],
        band_files=[os.path.join(work_dir, "bands", f"{i:06d}.parquet") for i in ok],
        failed=[s for s in signed if "error" in s],
        documents=sum(int(s.get("documents", 0)) for s in signed),
        text_bytes=sum(int(s.get("bytes", 0)) for s in signed),
        cpu_seconds=sum(float(s.get("seconds", 0.0)) for s in signed),
    )


def load_priors(priors: list[str], first_index: int, work_dir: str, client: Any) -> tuple[Signed, list[str]]:
    """The prior runs' kept signatures as work files numbered from ``first_index`` (one task per prior output
    file); returns them and the prior part files (for verification's reads of their text)."""
    files = prior_files([absolute(p) for p in priors])  # tasks on any machine read the same folders
    n = len(files)
    done = client.gather(client.map(load_prior, [f[0] for f in files], [f[1] for f in files],
                                    range(first_index, first_index + n), work_dir=work_dir, pure=False,
                                    key=[f"dedup-prior-{i}-{os.urandom(4).hex()}" for i in range(n)]))
    ids = range(first_index, first_index + n)
    signed = Signed(meta_files=[os.path.join(work_dir, "meta", f"{i:06d}.parquet") for i in ids],
                    band_files=[os.path.join(work_dir, "bands", f"{i:06d}.parquet") for i in ids],
                    failed=[], documents=sum(d["documents"] for d in done), text_bytes=0, cpu_seconds=0.0)
    return signed, [f[2] for f in files]


def with_prior(new: Signed, prior: Signed) -> Signed:
    return Signed(new.meta_files + prior.meta_files, new.band_files + prior.band_files, new.failed,
                  new.documents + prior.documents, new.text_bytes, new.cpu_seconds)


def edges_and_keepers(cfg: DedupConfig, signed: Signed, paths: list[str], assign_dir: str, nparts: int,
                      timings: dict[str, float], client: Any) -> dict[str, Any]:
    """Phases 2-3: exact and fuzzy edges, components, keepers; returns the summary's statistics."""
    import dask.dataframe as dd

    bands, rows = cfg.band_rows()
    stats: dict[str, Any] = {"bands": bands, "rows": rows}
    make_dirs(assign_dir)
    if not signed.meta_files:
        stats["clusters_summary"] = cluster_summary(pd.Series([], dtype="int64"))
        return stats
    meta = dd.read_parquet(signed.meta_files, columns=["gid", "id", "exact_hash", "rank", "prior"])
    edge_frames = []
    if cfg.exact:
        with _timed(timings, "exact"):
            exact, stats["exact_edges"] = exact_edge_frame(meta, nparts)
        edge_frames.append(exact)
    if cfg.fuzzy:
        with _timed(timings, "candidates"):
            cand, stats["candidate_pairs"] = candidate_frame(cfg, signed.band_files, nparts)
        if cfg.verify and stats["candidate_pairs"]:
            with _timed(timings, "verify"):
                cand, stats["verification"] = verified_frame(cfg, cand, stats["candidate_pairs"], paths, nparts)
            stats["verification"]["seconds"] = timings["verify"]
        edge_frames.append(cand)
    with _timed(timings, "components"):
        edges = dd.concat(edge_frames) if len(edge_frames) > 1 else edge_frames[0]
        counts, stats["components_method"] = assign_keepers(cfg, meta, edges, assign_dir, nparts, client)
    stats["clusters_summary"] = cluster_summary(counts)
    return stats


def cluster_summary(counts: pd.Series) -> dict[str, Any]:
    """Clusters, their size histogram and the largest, from the number of clusters per size."""
    by_size = {int(k): int(v) for k, v in counts.items()}
    return {"clusters": sum(by_size.values()), "cluster_size_histogram": histogram_of_counts(by_size),
            "largest_cluster": max(by_size, default=0)}


def exact_edge_frame(meta: Any, nparts: int) -> tuple[Any, int]:
    """Meta shuffled on the exact hash: an edge from every exact duplicate to its group's best document."""
    ex = meta[["gid", "exact_hash", "rank"]].shuffle(on="exact_hash", npartitions=nparts)
    exact = ex.map_partitions(exact_edges, meta=EDGES_META).persist()
    return exact, int(exact.shape[0].compute())


def candidate_frame(cfg: DedupConfig, band_files: list[str], nparts: int) -> tuple[Any, int]:
    """Band rows shuffled on the band key: pairs of documents sharing a bucket (deduplicated)."""
    import dask.dataframe as dd

    bands = dd.read_parquet(band_files)
    cand = bands.shuffle(on="key", npartitions=nparts).map_partitions(
        bucket_pairs, cfg.verify, cfg.max_bucket_pairs, cfg.exact, meta=EDGES_META)
    cand = cand.drop_duplicates(split_out=nparts).persist()
    return cand, int(cand.shape[0].compute())


def verified_frame(cfg: DedupConfig, cand: Any, n_pairs: int, paths: list[str], nparts: int) -> tuple[Any, dict]:
    """The candidate pairs whose true Jaccard reaches ``verify_threshold``.

    The documents in some pair are shuffled on their file, so one task reads each file holding candidates once
    and emits their shingle sets; two joins on the document bring both sets to each pair. Every step holds one
    shuffled partition: nothing grows with the corpus per task.
    """
    import dask
    import dask.dataframe as dd

    nodes = dd.concat([cand[["u"]].rename(columns={"u": "gid"}), cand[["v"]].rename(columns={"v": "gid"})])
    nodes = nodes.drop_duplicates(split_out=nparts)
    nodes = nodes.assign(file=nodes.gid // (1 << 32))
    by_file = nodes.shuffle(on="file", npartitions=max(1, min(len(paths), MAX_READ_TASKS)))
    sets = by_file.map_partitions(shingle_sets, dask.delayed(paths), cfg, meta=SETS_META).persist()
    pairs = cand.merge(sets.rename(columns={"gid": "u", "shingles": "su"}), on="u", npartitions=nparts)
    pairs = pairs.merge(sets.rename(columns={"gid": "v", "shingles": "sv"}), on="v", npartitions=nparts)
    checked = pairs.map_partitions(pair_jaccard, meta=VERIFIED_META).persist()
    n_ok, cpu = dask.compute((checked.jaccard >= cfg.verify_threshold).sum(), checked.seconds.sum())
    report = {"pairs_checked": n_pairs, "pairs_confirmed": int(n_ok), "pairs_rejected": n_pairs - int(n_ok),
              "threshold": cfg.verify_threshold, "cpu_seconds": round(float(cpu), 3)}
    return checked[checked.jaccard >= cfg.verify_threshold][["u", "v"]], report


def assign_keepers(cfg: DedupConfig, meta: Any, edges: Any, assign_dir: str, nparts: int,
                   client: Any) -> tuple[pd.Series, str]:
    """Components of the edges, the keeper of each, decisions written per input file, all on the cluster;
    returns the number of clusters per cluster size (a small series) and the components method.

    Labels from the in-memory union-find (which gathers at most ``components_in_memory_max`` edges) are
    scattered back as a Dask frame: members never come to the client.
    """
    labels, method = connected_components(edges, cfg.components_in_memory_max)
    if isinstance(labels, pd.DataFrame):
        labels = scattered_frame(labels, nparts, client)
    members = meta.merge(labels.rename(columns={"node": "gid"}), on="gid", npartitions=nparts)
    empty = choose_keepers(pd.DataFrame(columns=["gid", "label", "id", "rank", "exact_hash", "prior"]))
    assigned = members.shuffle(on="label", npartitions=nparts).map_partitions(choose_keepers, meta=empty).persist()
    assigned.shuffle(on="part", npartitions=nparts).map_partitions(
        write_assignments, assign_dir, meta=pd.DataFrame({"n": pd.Series([], dtype="int64")})).compute()
    return assigned[assigned.reason.isna()].cluster_size.value_counts().compute(), method


def scattered_frame(df: pd.DataFrame, nparts: int, client: Any) -> Any:
    """A pandas frame as a Dask frame whose pieces were sent to the workers directly (not through the
    scheduler, as ``from_pandas`` would embed them in the graph)."""
    import dask.dataframe as dd

    step = max(1, math.ceil(len(df) / max(1, nparts)))
    pieces = [df.iloc[i: i + step] for i in range(0, max(len(df), 1), step)]
    return dd.from_delayed(client.scatter(pieces), meta=df.iloc[:0], verify_meta=False)
