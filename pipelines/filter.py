"""``corpus-forge filter``: language ID, heuristic quality filters and a quality classifier, in order.

    corpus-forge filter EXTRACT_OUT --out FILTER_OUT [--config filters.yaml] [--keep-removed]

Each document goes through the configured filters in order until one drops it; the first drop reason
is recorded (``removed`` counts in ``stats.json``, a ``reason`` column in ``removed/`` with
``--keep-removed``), and the columns filters add (``lang``, ``lang_score``, ``quality_score``) are kept.
Without a config the FineWeb pipeline runs: English at lid.176 score > 0.65, Gopher repetition,
Gopher quality, C4 (without its terminal-punctuation rule) and FineWeb's own rules. A config file is
``filters: [{type: NAME, option: value, ...}, ...]``; the types are listed below. Any datatrove step runs as a
filter too: ``{datatrove: datatrove.pipeline.formatters.PIIFormatter, keyword: value, ...}``
(:mod:`filters.datatrove_step`; its drops count as ``datatrove:<Class>:<reason>``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from corpus_forge.cache import cached
from corpus_forge.config import ConfigError, StageConfig
from corpus_forge.io import path_exists, read_parquet, write_parquet_atomic
from corpus_forge.schema import conform, with_reason
from corpus_forge.stage import DocumentStage, Partition, PartitionResult, RunContext, read_partition
from corpus_forge.stats import Counters
from filters.base import build_filter
from filters.quality import SCORE_BINS, score_bin

# The FineWeb recipe (datatrove examples/fineweb.py, after URL filtering and extraction).
FINEWEB_FILTERS: list[dict[str, Any]] = [
    {"type": "langid", "languages": ["en"], "threshold": 0.65},
    {"type": "gopher_repetition"},
    {"type": "gopher_quality"},
    {"type": "c4", "filter_no_terminal_punct": False},
    {"type": "fineweb_quality"},
]
EMPTY_REASON = "empty_text"
SNIPPET_CHARS = 200


class FilterConfig(StageConfig):
    """Options of the filter stage (keys as in a recipe's ``filter:`` block)."""

    filters: list[dict[str, Any]] = Field(default_factory=lambda: [dict(f) for f in FINEWEB_FILTERS],
                                          description="ordered filter specs {type: NAME, ...options}")
    examples_per_reason: int = Field(3, ge=0, le=3, description="example snippets kept per drop reason")
    batch_rows: int = Field(512, gt=0, description="documents passed through the filter chain at once")

    @field_validator("filters")
    @classmethod
    def _specs(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, spec in enumerate(v):
            if not isinstance(spec, dict) or ("type" not in spec and "datatrove" not in spec):
                raise ValueError(f"filter #{i + 1} needs a 'type' key (or 'datatrove': a datatrove step's class)")
        return v


def build_filters(specs: list[dict[str, Any]]) -> list[Any]:
    return [build_filter(spec, where=f"filter.filters[{i}]") for i, spec in enumerate(specs)]


def snippet(text: str | None) -> str:
    """A short one-line excerpt for the summary and ``stats.json``."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"


class FilterStage(DocumentStage):
    """Runs an ordered list of filters (see :mod:`filters`) over every partition of documents."""

    name = "filter"
    Config = FilterConfig
    help = "language ID, Gopher/C4/FineWeb heuristics, quality classifier"
    inputs_help = "output folder(s) of a previous stage (part-*.parquet), or Parquet files"

    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        self.filters  # noqa: B018 - build them now: bad filter options fail before any work

    @property
    def filters(self) -> list[Any]:
        """The filter objects, built once per process (models load once per worker)."""
        return cached("filter.filters", self.config.filters, lambda: build_filters(self.config.filters))

    def corpus_filter(self) -> int | None:
        """Index of the filter that needs the whole corpus first (quality ``top_fraction``), if any."""
        found = [i for i, f in enumerate(self.filters) if getattr(f, "corpus_level", False)]
        if len(found) > 1:
            raise ConfigError("filter.filters: one corpus-level filter (quality top_fraction) per filter step; "
                              "put the others in a later filter step")
        return found[0] if found else None

    def independent_partitions(self) -> bool:
        return self.corpus_filter() is None

    def check(self) -> None:
        self.corpus_filter()

    def prepare(self, partitions: list[Partition], run: RunContext | None = None) -> CorpusCut | None:
        """Global phase for a corpus-level filter: every partition through the filters before it, scored
        (saved under the work folder), then one cut over all scores."""
        k = self.corpus_filter()
        if k is None or run is None:
            return None
        scored_dir = os.path.join(run.work_dir, "scored")
        client, flt = run.client, self.filters[k]
        hists = [client.submit(_score_partition, self, p, k, scored_dir, pure=False,
                               key=f"filter-score-{p.key}-{os.urandom(4).hex()}") for p in partitions]
        while len(hists) > 1:  # a tree of sums on the workers: the client gets one histogram
            hists = [client.submit(_sum_histograms, *hists[i:i + HISTOGRAM_FAN_IN], pure=False)
                     for i in range(0, len(hists), HISTOGRAM_FAN_IN)]
        histogram = _sum_histograms(*client.gather(hists))
        where = flt.cut_bin(histogram)
        cut = None
        if where is not None:  # only the cut bin's documents come to the client
            members = client.gather([client.submit(_bin_members, scored_dir, p.key, where[0], pure=False)
                                     for p in partitions])
            scores = np.concatenate([m[0] for m in members])
            ids = [i for m in members for i in m[1]]
            order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i]))
            last = order[where[1] - 1]
            cut = float(scores[last]), ids[last]
        return CorpusCut(k, scored_dir, cut, int(histogram.sum()))

    def process(self, part: Partition, ctx: CorpusCut | None = None) -> PartitionResult:
        if ctx is None:
            return self.process_table(read_partition(part))
        kept, removed = _read_scored(ctx.scored_dir, part.key)
        res = self.filters[ctx.index].apply_cut(kept, ctx.cut)
        keep = np.asarray(res.keep, dtype=bool)
        why = [r for r, k in zip(res.reasons, keep, strict=True) if not k]
        cut_away = with_reason(kept.filter(pa.array(~keep)), why)
        later, later_removed, seconds = self._apply(kept.filter(pa.array(keep)), self.filters[ctx.index + 1:])
        parts = [t for t in (removed, cut_away, later_removed) if t.num_rows]
        all_removed = pa.concat_tables(parts, promote_options="permissive") if parts else removed
        return self._result(kept.num_rows + removed.num_rows, later, all_removed, seconds)

    def process_table(self, table: pa.Table, ctx: Any = None) -> PartitionResult:
        """All filters over one table (a corpus-level filter treats the table as the corpus)."""
        table = conform(table)
        kept, removed, seconds = self._apply(table, self.filters)
        return self._result(table.num_rows, kept, removed, seconds)

    def _apply(self, table: pa.Table, filters: list[Any]) -> tuple[pa.Table, pa.Table, dict[str, float]]:
        """``filters`` over ``table`` in batches: (kept, removed with ``reason``, seconds per filter)."""
        kept_parts: list[pa.Table] = []
        removed_parts: list[pa.Table] = []
        seconds: dict[str, float] = {}
        for start in range(0, table.num_rows, self.config.batch_rows):
            batch = table.slice(start, self.config.batch_rows)
            kept, removed = self._run_chain(batch, seconds, filters)
            kept_parts.append(kept)
            if removed.num_rows:
                removed_parts.append(removed)
        kept = pa.concat_tables(kept_parts, promote_options="permissive") if kept_parts else table
        removed = pa.concat_tables(removed_parts, promote_options="permissive") if removed_parts \
            else with_reason(table.slice(0, 0), [])
        return kept, removed, seconds

    def _result(self, n_in: int, kept: pa.Table, removed: pa.Table, seconds: dict[str, float]) -> PartitionResult:
        counters = Counters(documents_in=n_in)
        examples: dict[str, list[str]] = {}
        reasons, texts = removed.column("reason").to_pylist(), removed.column("text").to_pylist()
        for reason, text in zip(reasons, texts, strict=True):
            counters.remove(reason)
            ex = examples.setdefault(reason, [])
            if len(ex) < self.config.examples_per_reason:
                ex.append(snippet(text))
        counters.documents_out = kept.num_rows
        counters.extra["examples"] = examples
        counters.extra["filter_seconds"] = {k: round(v, 4) for k, v in seconds.items()}
        counters.check(f"filter ({n_in} documents)")
        return PartitionResult(kept, removed, counters)

    def _run_chain(self, batch: pa.Table, seconds: dict[str, float], filters: list[Any]) -> tuple[pa.Table, pa.Table]:
        """Pass one batch through ``filters``; returns (kept, removed with ``reason``)."""
        n = batch.num_rows
        reasons: list[str | None] = [None] * n
        texts = batch.column("text").to_pylist()
        alive = np.array([bool(t and t.strip()) for t in texts], dtype=bool)
        for i in np.flatnonzero(~alive):
            reasons[i] = EMPTY_REASON
        added: dict[str, list[Any]] = {}
        types: dict[str, pa.DataType] = {}
        for f in filters:  # declared columns exist even when no document reached the filter
            for col, typ in getattr(f, "adds_columns", {}).items():
                added.setdefault(col, [None] * n)
                types[col] = typ
        current = batch
        for f in filters:
            idx = np.flatnonzero(alive)
            if not idx.size:
                break
            sub = current.take(pa.array(idx))
            t0 = time.perf_counter()
            res = f.filter_table(sub)
            seconds[f.name] = seconds.get(f.name, 0.0) + time.perf_counter() - t0
            keep = np.asarray(res.keep, dtype=bool)
            if keep.shape != (idx.size,):
                raise RuntimeError(f"filter {f.name} returned {keep.shape} decisions for {idx.size} documents")
            for col, values in res.columns.items():
                if isinstance(values, pa.Array):
                    types.setdefault(col, values.type)
                values = values.to_pylist() if hasattr(values, "to_pylist") else list(values)
                if col == "text":  # the filter rewrote the text (C4 drops lines): later filters see it
                    for j, i in enumerate(idx):
                        texts[i] = values[j]
                    continue
                dest = added.setdefault(col, [None] * n)
                for j, i in enumerate(idx):
                    dest[i] = values[j]
            if "text" in res.columns:
                current = current.set_column(current.schema.get_field_index("text"), "text",
                                             pa.array(texts, type=pa.string()))
            for j in np.flatnonzero(~keep):
                i = idx[j]
                alive[i] = False
                reasons[i] = res.reasons[j] or f.drop_reason(None)
        out = current
        for col, values in added.items():
            arr = pa.array(values, type=types.get(col))
            if col in out.column_names:
                out = out.set_column(out.schema.get_field_index(col), col, arr)
            else:
                out = out.append_column(col, arr)
        kept = out.filter(pa.array(alive))
        dead = np.flatnonzero(~alive)
        removed = with_reason(out.take(pa.array(dead, type=pa.int64())), [reasons[i] for i in dead])
        return kept, removed

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        """Trim the examples gathered from every partition to at most three per reason."""
        ex = counters.extra.get("examples") or {}
        return {"examples": {r: list(v)[: self.config.examples_per_reason] for r, v in sorted(ex.items())}}


@dataclass(frozen=True)
class CorpusCut:
    """The global phase's result: which filter, where the scored partitions are, and the cut (score, id)."""

    index: int
    scored_dir: str
    cut: tuple[float, str] | None
    documents: int


class _ScoreOnly:
    """A corpus-level filter in its first pass: adds its scores, drops nothing."""

    def __init__(self, flt: Any) -> None:
        self.flt, self.name = flt, flt.name
        self.adds_columns = getattr(flt, "adds_columns", {})

    def filter_table(self, table: pa.Table) -> Any:
        return self.flt.score_table(table)


def _score_partition(stage: FilterStage, part: Partition, k: int, scored_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """First pass of a corpus-level filter on one partition (saved, so a rerun does not redo it): the
    (bins, counts) of its scores."""
    kept_path = os.path.join(scored_dir, f"{part.key}.kept.parquet")
    if not path_exists(kept_path):
        table = conform(read_partition(part))
        kept, removed, _ = stage._apply(table, [*stage.filters[:k], _ScoreOnly(stage.filters[k])])
        write_parquet_atomic(removed, os.path.join(scored_dir, f"{part.key}.removed.parquet"))
        write_parquet_atomic(kept, kept_path)  # last: marks the first pass of this partition done
    scores = read_parquet(kept_path, columns=["quality_score"]).column("quality_score")
    return np.unique(score_bin(scores.to_numpy(zero_copy_only=False)), return_counts=True)


HISTOGRAM_FAN_IN = 16


def _sum_histograms(*parts: np.ndarray | tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """One dense histogram (SCORE_BINS counts) of dense ones or (bins, counts) pairs."""
    total = np.zeros(SCORE_BINS, dtype=np.int64)
    for part in parts:
        if isinstance(part, tuple):
            np.add.at(total, part[0], part[1])
        else:
            total += part
    return total


def _bin_members(scored_dir: str, key: str, b: int) -> tuple[np.ndarray, list[str]]:
    """The (scores, ids) of one scored partition's documents in score bin ``b``."""
    t = read_parquet(os.path.join(scored_dir, f"{key}.kept.parquet"), columns=["id", "quality_score"])
    scores = t.column("quality_score").to_numpy(zero_copy_only=False).astype(np.float64)
    rows = np.flatnonzero(score_bin(scores) == b)
    ids = t.column("id").to_pylist()
    return scores[rows], [str(ids[i]) for i in rows]


def _read_scored(scored_dir: str, key: str) -> tuple[pa.Table, pa.Table]:
    return (read_parquet(os.path.join(scored_dir, f"{key}.kept.parquet")),
            read_parquet(os.path.join(scored_dir, f"{key}.removed.parquet")))
