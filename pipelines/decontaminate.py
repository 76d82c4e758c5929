"""``decontaminate`` stage: remove benchmark test items and Wikipedia from the training documents.

Per document, in this order:

1. ``wikipedia_url``: the URL is on a Wikipedia domain (GPT-2 removed Wikipedia from WebText).
2. ``wikipedia_overlap``: with ``wikipedia_reference`` given, the share of the document's 13-grams found
   in that reference (a MediaWiki dump, text or Parquet) is at least ``wikipedia_threshold`` (mirrors).
3. Benchmarks (GPT-3, Brown et al. 2020, appendix C): 13-gram overlap with any test item of the
   configured benchmarks (bundled by default: GSM8K, HumanEval, HellaSwag). ``action: excise`` (default)
   cuts every match ± 200 characters out and keeps the rest when it splits into at most 10 pieces (pieces
   under 200 characters dropped); otherwise the document goes with ``contaminated_too_many_pieces`` or
   ``contaminated_nothing_left``. ``action: drop`` removes every touched document (``contaminated``).

Accounting: an excised document that survives counts as kept (``documents_out``) and is also counted in
``stats.json`` → ``decontamination.excised_documents``; its text is the kept pieces joined by blank
lines. Columns added: ``decontam_benchmarks`` (benchmarks matched, empty list when clean),
``decontam_excised_chars`` and, with a reference, ``wikipedia_overlap``. ``stats.json`` →
``contamination`` reports per benchmark the test items found and the documents touched.

The n-gram index is built once on the client (``prepare``) and broadcast to every worker. The Wikipedia
reference is memory-mapped from a saved set (a ``wikiref`` folder; dumps given here are built on the client
once and saved under ``OUT/_work``): one copy per node in the page cache, a path in the broadcast context.
"""

from __future__ import annotations

import argparse
import itertools
import os
from dataclasses import dataclass, replace
from typing import Any, Literal

import fsspec
import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from corpus_forge.cache import cached
from corpus_forge.config import ConfigError, StageConfig, validate
from corpus_forge.schema import with_reason
from corpus_forge.stage import DocumentStage, Partition, PartitionResult, RunContext, read_partition
from corpus_forge.stats import Counters
from filters import decontam as dc
from filters.support.benchmarks import DEFAULT_BENCHMARKS, BenchmarkSpec, as_spec, check_spec, load_benchmark
from filters.support.ngrams import DocWords, word_spans
from filters.wikipedia import WIKI_NGRAM, WIKI_THRESHOLD, WIKIPEDIA_DOMAINS, ReferenceNgrams, WikipediaUrlFilter
from pipelines import decontaminate_report
from pipelines.wikiref import reference_file

BENCH_COLUMN = "decontam_benchmarks"
EXCISED_COLUMN = "decontam_excised_chars"
OVERLAP_COLUMN = "wikipedia_overlap"
WIKI_URL = "wikipedia_url"
WIKI_OVERLAP = "wikipedia_overlap"
EXAMPLES_PER_PARTITION = 3
REFERENCE_WORK_FILE = "wikipedia-reference.npy"  # a reference built in prepare, under OUT/_work


class DecontaminateConfig(StageConfig):
    """Options of the decontaminate stage; defaults are GPT-3's (benchmarks) and GPT-2's (Wikipedia)."""

    benchmarks: list[BenchmarkSpec] = Field(
        default_factory=lambda: [BenchmarkSpec(name=n) for n in DEFAULT_BENCHMARKS],
        json_schema_extra={"flag": "--benchmark", "metavar": "SPEC"},
        description="benchmarks: NAME (registered), NAME=PATH, or NAME=PATH#FIELD,FIELD for any JSONL/CSV/Parquet "
                    "file; on the command line each --benchmark adds to the bundled ones")
    ngram: int = Field(dc.NGRAM, ge=1, le=64, description="words per n-gram matched against the benchmarks "
                                                          "(GPT-3: 13)")
    min_words: int = Field(dc.MIN_WORDS, ge=1, description="test items shorter than this many words are not "
                                                           "indexed (GPT-3: 8)")
    action: Literal["excise", "drop"] = Field(
        "excise", description="excise: cut each match and its window out, keep the rest (GPT-3); drop: drop the "
                              "document")
    excise_window: int = Field(dc.EXCISE_WINDOW, ge=0, description="characters cut on each side of a match "
                                                                   "(GPT-3: 200)")
    min_piece_chars: int = Field(dc.MIN_PIECE_CHARS, ge=0, description="pieces left shorter than this many "
                                                                       "characters are removed too (GPT-3: 200)")
    max_pieces: int = Field(dc.MAX_PIECES, ge=1, description="a document cut into more pieces than this is "
                                                             "dropped whole (GPT-3: 10)")
    max_ngram_docs: int | None = Field(None, ge=1, description="ignore n-grams found in more documents than this "
                                                               "(GPT-3: 10; needs a counting pass; none = off)")
    wikipedia_urls: bool = Field(True, description="drop documents whose URL is a Wikipedia page (GPT-2 removed "
                                                   "Wikipedia from WebText)")
    wikipedia_domains: list[str] = Field(default_factory=lambda: list(WIKIPEDIA_DOMAINS),
                                         description="domains counted as Wikipedia (their subdomains too)")
    wikipedia_reference: list[str] = Field(
        default_factory=list, description="Wikipedia dumps (.xml.bz2) or `wikiref` output folders: drop documents "
                                          "whose text overlaps them; none = URLs only")
    wikipedia_ngram: int = Field(WIKI_NGRAM, ge=1, le=64, description="words per n-gram matched against the "
                                                                      "Wikipedia reference (13, as for benchmarks)")
    wikipedia_threshold: float = Field(WIKI_THRESHOLD, gt=0, le=1, description="drop a document when at least this "
                                       "share of its n-grams is in the reference")
    wikipedia_sample: int = Field(1, ge=1, description="keep 1 in N reference n-grams (by hash), for whole dumps; "
                                                       "a document's n-grams are sampled the same way")
    wikipedia_markup: Literal["regex", "mwparserfromhell"] = Field(
        "regex", description="how wiki markup is stripped from the dump: fast regexes or mwparserfromhell (slower, "
                             "needs the package)")
    batch_size: int = Field(1000, ge=1, description="documents hashed per batch")

    @field_validator("benchmarks", mode="before")
    @classmethod
    def _specs(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        return [as_spec(x) if isinstance(x, str) else x for x in v] if isinstance(v, list) else v


@dataclass(frozen=True)
class DecontamContext:
    """What every worker needs, built once: the benchmark index and the optional Wikipedia reference."""

    index: dc.BenchmarkIndex
    sources: dict[str, str]
    reference: ReferenceNgrams | None = None


class _PartitionState:
    """Per-document decisions while one partition is processed."""

    def __init__(self, n: int, benchmarks: list[str]) -> None:
        self.reasons: list[str | None] = [None] * n
        self.new_text: dict[int, str] = {}
        self.matched: list[list[str]] = [[] for _ in range(n)]
        self.excised = np.zeros(n, dtype=np.int64)
        self.overlap = np.zeros(n, dtype=np.float64)
        self.touched = {b: 0 for b in benchmarks}
        self.items_found: dict[str, set[int]] = {b: set() for b in benchmarks}
        self.errors: dict[str, int] = {}


class DecontaminateStage(DocumentStage):
    """Benchmark n-gram matching (GPT-3 excision or drop) and Wikipedia removal over every partition."""

    name = "decontaminate"
    Config = DecontaminateConfig
    help = "remove benchmark test items (13-gram overlap, GPT-3 excision) and Wikipedia"
    report_section = staticmethod(decontaminate_report.section)  # its part of report.html

    def __init__(self, config: DecontaminateConfig | None = None, **options: Any) -> None:
        self.config = config or validate(DecontaminateConfig, options, "decontaminate")
        names = [s.name for s in self.config.benchmarks]
        if len(set(names)) != len(names):
            raise ConfigError(f"decontaminate.benchmarks: a benchmark is listed twice ({names})")
        for spec in self.config.benchmarks:
            check_spec(spec)
        self._url_filter = WikipediaUrlFilter(self.config.wikipedia_domains)

    def check(self) -> None:
        """The Wikipedia references exist (checked when the step runs: a recipe may build one first)."""
        for path in self.reference_paths():
            fs, _, paths = fsspec.get_fs_token_paths(path)
            if not paths or not fs.exists(paths[0]):
                raise ConfigError(f"decontaminate.wikipedia_reference: file not found: {path}")

    def reference_paths(self) -> list[str]:
        """The references, a ``wikiref`` output folder standing for its saved ``reference.npy``."""
        cfg = self.config
        try:
            return [reference_file(p, cfg.wikipedia_ngram, cfg.wikipedia_sample) for p in cfg.wikipedia_reference]
        except ValueError as err:
            raise ConfigError(f"decontaminate.wikipedia_reference: {err}") from None

    # ------------------------------------------------------------ context

    def build_context(self) -> DecontamContext:
        """Load the benchmarks and the Wikipedia reference and build their n-gram sets."""
        cfg = self.config
        benches = [load_benchmark(s) for s in cfg.benchmarks]
        index = dc.BenchmarkIndex.build(benches, cfg.ngram, cfg.min_words)
        ref = None
        if cfg.wikipedia_reference:
            ref = ReferenceNgrams.build(self.reference_paths(), cfg.wikipedia_ngram, cfg.wikipedia_sample,
                                        cfg.wikipedia_markup)
        return DecontamContext(index, {b.name: b.source for b in benches}, ref)

    def _context(self, ctx: DecontamContext | None) -> DecontamContext:
        if ctx is not None:
            return ctx
        return cached("decontaminate.context", self.config, self.build_context)

    @staticmethod
    def add_cli_arguments(p: argparse.ArgumentParser) -> None:
        _add_cli_arguments(p)

    @staticmethod
    def cli_options(opts: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
        return _cli_options(opts, args)

    @staticmethod
    def print_report(stats: dict[str, Any]) -> None:
        print_report(stats)

    def independent_partitions(self) -> bool:
        return self.config.max_ngram_docs is None  # the counting pass looks at every partition

    def prepare(self, partitions: list[Partition], run: RunContext | None = None) -> DecontamContext:
        """The context (its Wikipedia reference memory-mapped from a saved set); with ``max_ngram_docs``, without
        the n-grams found in more input documents than that (a counting pass over every partition, on the run's
        client; in this process without a run)."""
        ctx = self.build_context()
        if run is not None and ctx.reference is not None and ctx.reference.path is None:
            # built here from dumps or several sets: saved once, so that each worker maps it (a broadcast
            # context then carries its path, not its keys)
            ctx = replace(ctx, reference=ctx.reference.saved(os.path.join(run.work_dir, REFERENCE_WORK_FILE)))
        if self.config.max_ngram_docs is not None and len(ctx.index):
            counts = count_ngram_documents(ctx.index, partitions, run.client if run is not None else None).counts
            ctx = replace(ctx, index=ctx.index.without(np.flatnonzero(counts > self.config.max_ngram_docs)))
        return ctx

    # ------------------------------------------------------------ per partition

    def process_table(self, table: pa.Table, ctx: DecontamContext | None = None) -> PartitionResult:
        cfg = self.config
        ctx = self._context(ctx)
        n = table.num_rows
        texts = [t or "" for t in table.column("text").to_pylist()]
        urls = table.column("url").to_pylist() if "url" in table.column_names else [None] * n
        st = _PartitionState(n, ctx.index.names)
        if cfg.wikipedia_urls:
            for i, u in enumerate(urls):
                if self._url_filter.is_wikipedia(u):
                    st.reasons[i] = WIKI_URL
        todo = [i for i in range(n) if st.reasons[i] is None]
        for s in range(0, len(todo), cfg.batch_size):  # one pass per document: words hashed once
            rows = todo[s : s + cfg.batch_size]
            dw = DocWords.from_texts([texts[i] for i in rows])
            if ctx.reference is not None:
                frac, total = ctx.reference.overlap(dw)
                for j, i in enumerate(rows):
                    st.overlap[i] = frac[j]
                    if total[j] and frac[j] >= cfg.wikipedia_threshold:
                        st.reasons[i] = WIKI_OVERLAP
            if len(ctx.index):
                for j, m in ctx.index.match(dw).by_doc().items():
                    if st.reasons[rows[j]] is None:
                        self._decontaminate(rows[j], texts[rows[j]], int(dw.start[j + 1] - dw.start[j]), m,
                                            ctx.index, st)
        return self._result(table, ctx, st, urls)

    def _decontaminate(self, i: int, text: str, nwords: int, m: dc.Matches, index: dc.BenchmarkIndex,
                       st: _PartitionState) -> None:
        """Record what document ``i`` matched, then drop it or cut the matches out (GPT-3)."""
        cfg = self.config
        gids = index.items_of_keys(m.key)
        benches = index.bench_of_item(gids)
        st.matched[i] = [index.names[b] for b in sorted(set(benches.tolist()))]
        for g, b in zip(gids.tolist(), benches.tolist(), strict=True):
            st.items_found[index.names[b]].add(g - int(index.item_start[b]))
        for name in st.matched[i]:
            st.touched[name] += 1
        if cfg.action == "drop":
            st.reasons[i] = dc.CONTAMINATED
            return
        spans = word_spans(text)
        if len(spans) != nwords:  # cannot happen by construction; never cut blind: drop instead
            st.errors["excise_span_mismatch"] = st.errors.get("excise_span_mismatch", 0) + 1
            st.reasons[i] = dc.CONTAMINATED
            return
        ex = dc.excise(text, dc.match_char_spans(spans, m), cfg.excise_window, cfg.min_piece_chars, cfg.max_pieces)
        st.excised[i] = ex.removed_chars
        if ex.text is None:
            st.reasons[i] = ex.reason
        else:
            st.new_text[i] = ex.text

    def _result(self, table: pa.Table, ctx: DecontamContext, st: _PartitionState, urls: list) -> PartitionResult:
        index = ctx.index
        out = table
        if st.new_text:
            col = pa.array([st.new_text.get(i, t) for i, t in enumerate(table.column("text").to_pylist())],
                           type=pa.string())
            out = out.set_column(out.schema.get_field_index("text"), "text", col)
        out = _set(out, BENCH_COLUMN, pa.array(st.matched, type=pa.list_(pa.string())))
        out = _set(out, EXCISED_COLUMN, pa.array(st.excised, type=pa.int64()))
        if ctx.reference is not None:
            out = _set(out, OVERLAP_COLUMN, pa.array(st.overlap, type=pa.float64()))
        keep = np.array([r is None for r in st.reasons], dtype=bool)
        kept = out.filter(pa.array(keep))
        drop_idx = np.flatnonzero(~keep).tolist()
        removed = with_reason(out.take(pa.array(drop_idx, type=pa.int64())), [st.reasons[i] for i in drop_idx])

        counters = Counters(documents_in=table.num_rows, documents_out=kept.num_rows)
        examples: dict[str, list[str]] = {}
        ids = table.column("id").to_pylist()
        for i in drop_idx:
            reason = st.reasons[i] or ""
            counters.remove(reason)
            ex_list = examples.setdefault(reason, [])
            if len(ex_list) < EXAMPLES_PER_PARTITION:
                ex_list.append((",".join(st.matched[i]) + ": " if st.matched[i] else "") + (urls[i] or ids[i]))
        for k, v in st.errors.items():
            counters.error(k, v)
        excised = list(st.new_text)
        counters.extra = {
            "contamination": {
                b: {"documents_touched": st.touched[b], "items_found_ids": sorted(st.items_found[b])}
                for b in index.names
            },
            "decontamination": {
                "documents_touched": sum(1 for x in st.matched if x),
                "excised_documents": len(excised),
                "excised_chars": int(st.excised[excised].sum()) if excised else 0,
            },
            "examples": examples,
        }
        counters.constant("ngram_index", {"ngrams": len(index), "bytes": index.nbytes, "benchmarks": index.stats,
                                          "wikipedia_ngrams": len(ctx.reference) if ctx.reference is not None else 0})
        counters.check(self.name)
        return PartitionResult(kept, removed, counters)

    # ------------------------------------------------------------ after all partitions

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        """Collapse the per-partition item lists into the contamination report."""
        extra = counters.extra
        report: dict[str, Any] = {}
        idx = extra.get("ngram_index") or {}
        info: dict[str, dict[str, Any]] = idx.get("benchmarks") or {}
        for name, c in (extra.get("contamination") or {}).items():
            found = set(c.get("items_found_ids", []))
            report[name] = {
                "items": info.get(name, {}).get("items"),
                "items_found": len(found),
                "documents_touched": int(c.get("documents_touched", 0)),
                "ngrams": info.get(name, {}).get("ngrams"),
                **({"ngrams_ignored": info[name]["ngrams_ignored"]}
                   if "ngrams_ignored" in info.get(name, {}) else {}),
            }
        examples = {k: v[:5] for k, v in (extra.get("examples") or {}).items()}
        index_info: dict[str, Any] = {"ngrams": int(idx.get("ngrams", 0)), "bytes": int(idx.get("bytes", 0)),
                                      "n": self.config.ngram}
        if self.config.wikipedia_reference:
            index_info["wikipedia_ngrams"] = int(idx.get("wikipedia_ngrams", 0))
        return {"contamination": report, "ngram_index": index_info, "examples": examples}


def _set(table: pa.Table, name: str, col: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.schema.get_field_index(name), name, col)
    return table.append_column(name, col)


# ---------------------------------------------------------------- counting pass (GPT-3's "> 10 documents")


def _count_partition(part: Partition, index: dc.BenchmarkIndex) -> tuple[np.ndarray, np.ndarray]:
    """One partition's (key indices, documents containing each): only the keys it matched."""
    texts = read_partition(part, columns=["text"]).column("text").to_pylist()
    return dc.doc_frequencies(index, texts)


class NgramDocCounts:
    """Documents containing each benchmark n-gram: one dense int64 array of ``len(index)`` (8 B an n-gram),
    into which each partition's result is added as it arrives, so the client holds O(index), not O(partitions
    × matched n-grams). A partition sends only the keys it matched (most send none), not a dense array."""

    def __init__(self, size: int) -> None:
        self.counts = np.zeros(size, dtype=np.int64)
        self.partitions = 0

    def add(self, result: tuple[np.ndarray, np.ndarray]) -> None:
        keys, counts = result  # keys are unique within a partition's result
        self.counts[keys] += counts
        self.partitions += 1


def count_ngram_documents(index: dc.BenchmarkIndex, partitions: list[Partition],
                          client: Any = None) -> NgramDocCounts:
    """Number of input documents containing each benchmark n-gram (dense, by key index).

    Runs on ``client`` when given (index scattered once, a bounded window of tasks in flight, each result
    folded and released as it arrives), else in this process.
    """
    total = NgramDocCounts(len(index))
    if client is None or not partitions:
        for p in partitions:
            total.add(_count_partition(p, index))
        return total
    from distributed import as_completed

    from corpus_forge.runner import _window

    fut = client.scatter(index, broadcast=True)
    pending = iter(partitions)

    def submit(parts: list[Partition]) -> list[Any]:
        return client.map(_count_partition, parts, index=fut, pure=False)

    queue = as_completed(submit(list(itertools.islice(pending, _window(client)))))
    for done in queue:
        total.add(done.result())
        done.release()
        nxt = next(pending, None)
        if nxt is not None:
            queue.update(submit([nxt]))
    return total


# ---------------------------------------------------------------- recipe and command line


def _add_cli_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-bundled", action="store_true",
                   help="do not use the bundled benchmarks; only those given with --benchmark")


def _cli_options(opts: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``--benchmark`` adds to the bundled (or configured) benchmarks unless ``--no-bundled``."""
    given = [as_spec(s) if isinstance(s, str) else s for s in getattr(args, "opt_benchmarks", None) or []]
    if given or args.no_bundled:
        cfg = validate(DecontaminateConfig, {k: v for k, v in opts.items() if k != "benchmarks"}, "decontaminate")
        base = [] if args.no_bundled else [b.model_dump() for b in cfg.benchmarks]
        names = {s.name for s in given}
        opts["benchmarks"] = [b for b in base if b["name"] not in names] + [s.model_dump() for s in given]
        if not opts["benchmarks"]:
            raise ConfigError("decontaminate: --no-bundled needs at least one --benchmark")
    return opts




def print_report(stats: dict[str, Any]) -> None:
    """The contamination report under the stage summary."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title="contamination (test items found / documents touched)")
    for col in ("benchmark", "items found", "items", "documents touched", "n-grams"):
        t.add_column(col, justify="left" if col == "benchmark" else "right")
    for name, r in (stats.get("contamination") or {}).items():
        t.add_row(name, f"{r.get('items_found', 0):,}", f"{r.get('items') or 0:,}",
                  f"{r.get('documents_touched', 0):,}", f"{r.get('ngrams') or 0:,}")
    d = stats.get("decontamination") or {}
    idx = stats.get("ngram_index") or {}
    con = Console(stderr=True)
    con.print(t)
    con.print(f"excised and kept: {d.get('excised_documents', 0):,} documents "
              f"({d.get('excised_chars', 0):,} characters cut)")
    con.print(f"benchmark n-gram set: {idx.get('ngrams', 0):,} {idx.get('n', '')}-grams, "
              f"{idx.get('bytes', 0) / 2**20:.1f} MiB"
              + (f"; Wikipedia reference: {idx['wikipedia_ngrams']:,} n-grams" if "wikipedia_ngrams" in idx else ""))
