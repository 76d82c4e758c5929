"""Our ``filter`` stage vs the same datatrove filters, side by side, on the same real documents.

    .venv/bin/python bench/filter.py [--docs 2000] [--repeats 3] [--workers 2] [--files 8]
    .venv/bin/python bench/filter.py --agreement [--docs 4087]   # tokens and decisions vs spaCy

Documents: the main text of every page in ``../shared/data/web_extraction`` (4,172 pages, 7 sets),
extracted once with trafilatura (``favor_precision``, as FineWeb) and cached in ``--work``
(default ``/tmp/cf_bench/filter_docs.parquet``). The first ``--docs`` are split into ``--files`` input
files, then per repeat, interleaved:

- ours: ``corpus_forge.runner.run_stage(FilterStage(), parquet_dir, out, workers=W)`` with the default
  (FineWeb) filter list: an embedded Dask LocalCluster of W worker processes, start-up inside the timing;
- datatrove: ``LocalPipelineExecutor([JsonlReader, LanguageFilter(en, 0.65), GopherRepetitionFilter(),
  GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter(),
  JsonlWriter], tasks=files, workers=W)``: FineWeb's filters with datatrove's spaCy word tokenizer.
  Its LanguageFilter gets the same ``lid.176.ftz`` we use (its default downloads ``lid.176.bin``).

Prints the median wall seconds, documents/s and documents kept per side, the ratio, and whether the two
kept the same documents. ``--agreement`` instead compares, document by document, our word tokenizer
with datatrove's spaCy one and each of our filters' decisions with datatrove's (spaCy) filter.
Peer-only packages: ``spacy`` and ``fasteners`` (datatrove's LanguageFilter needs it).
The machine is shared: numbers are noisy, so compare medians and the ratio.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _common import WEB_EXTRACTION, add_repo_to_path, machine_line, median, print_table

add_repo_to_path()

DEFAULT_WORK = Path("/tmp/cf_bench")
PAGE_GLOBS = ("scrapinghub_aeb/html/*.html.gz", "trafilatura_eval/*/*.html.gz",
              "readability_testpages/*/source.html.gz", "cleaneval/*/input/*", "cleanportaleval/input/*",
              "dragnet/input/*", "page_signal_googlenews/input/*")


def load_documents(work: Path) -> list[dict[str, str]]:
    """Every page's trafilatura text (cached); ``id`` is the page's path under web_extraction."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cache = work / "filter_docs.parquet"
    if cache.exists():
        return pq.read_table(cache).to_pylist()
    import trafilatura

    files = sorted(str(p) for g in PAGE_GLOBS for p in WEB_EXTRACTION.glob(g))
    if not files:
        sys.exit(f"no pages under {WEB_EXTRACTION} (set CF_SHARED_DATA)")
    rows = []
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        raw = Path(f).read_bytes()
        if f.endswith(".gz"):
            raw = gzip.decompress(raw)
        try:
            text = trafilatura.extract(raw, favor_precision=True, include_comments=False, deduplicate=True)
        except Exception:  # a page trafilatura cannot parse is simply left out
            text = None
        if text:
            rows.append({"id": os.path.relpath(f, WEB_EXTRACTION), "text": text})
        if i % 500 == 0:
            print(f"  extracting pages: {i}/{len(files)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    work.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), cache)
    return rows


def write_inputs(docs: list[dict[str, str]], work: Path, files: int) -> tuple[str, str]:
    """The same documents as ``files`` Parquet parts (ours) and ``files`` JSONL files (datatrove)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq_dir, js_dir = work / "filter_in_parquet", work / "filter_in_jsonl"
    for d in (pq_dir, js_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for k in range(files):
        part = docs[k::files]
        pq.write_table(pa.table({"id": [d["id"] for d in part], "text": [d["text"] for d in part],
                                 "url": pa.nulls(len(part), pa.string()), "source": ["web_extraction"] * len(part)}),
                       pq_dir / f"part-{k:03d}.parquet")
        with open(js_dir / f"part-{k:03d}.jsonl", "w", encoding="utf-8") as f:
            for d in part:
                f.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
    return str(pq_dir), str(js_dir)


def run_ours(in_dir: str, out: Path, workers: int) -> tuple[float, int]:
    from corpus_forge.runner import run_stage
    from pipelines.filter import FilterStage

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    stats = run_stage(FilterStage.from_options({}), [in_dir], str(out), workers=workers, progress=False)
    return time.perf_counter() - t0, int(stats["documents_out"])


def _lid_model_path() -> str:
    from filters.langid import bundled_lid_model

    return bundled_lid_model()


def datatrove_pipeline(in_dir: str, out: str) -> list[Any]:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.lid import FT176LID

    class LocalFT176(FT176LID):
        """datatrove's FT176 language ID, loading our local lid.176.ftz instead of downloading."""

        path = _lid_model_path()

        @property
        def model(self) -> Any:
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(self.path)
            return self._model

    lang = LanguageFilter(languages=["en"], language_threshold=0.65)
    lang.model = LocalFT176(["en"])
    return [
        JsonlReader(in_dir),
        lang,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(out, output_filename="${rank}.jsonl", compression=None),
    ]


def run_datatrove(in_dir: str, out: Path, workers: int, tasks: int) -> tuple[float, int]:
    from datatrove.executor import LocalPipelineExecutor

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=datatrove_pipeline(in_dir, str(out / "docs")), tasks=tasks,
                          workers=workers, logging_dir=str(out / "logs")).run()
    secs = time.perf_counter() - t0
    kept = sum(1 for f in (out / "docs").glob("*.jsonl") for _ in open(f, encoding="utf-8"))
    return secs, kept


def kept_ids_ours(out: Path) -> set[str]:
    import pyarrow.parquet as pq

    return {i for f in out.glob("part-*.parquet") for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()}


def kept_ids_datatrove(out: Path) -> set[str]:
    return {json.loads(line)["id"] for f in (out / "docs").glob("*.jsonl") for line in open(f, encoding="utf-8")}


def bench(args: argparse.Namespace) -> None:
    docs = load_documents(args.work)[: args.docs]
    n = len(docs)
    pq_dir, js_dir = write_inputs(docs, args.work, args.files)
    print(f"{n} documents ({sum(len(d['text']) for d in docs) / 1e6:.1f} MB text) in {args.files} files; "
          f"{args.workers} workers each; {machine_line()}")
    ours_t, peer_t = [], []
    ours_kept = peer_kept = 0
    for r in range(args.repeats):
        t, ours_kept = run_ours(pq_dir, args.work / "filter_out_ours", args.workers)
        ours_t.append(t)
        t, peer_kept = run_datatrove(js_dir, args.work / "filter_out_datatrove", args.workers, args.files)
        peer_t.append(t)
        print(f"  repeat {r + 1}: ours {ours_t[-1]:.1f} s, datatrove {peer_t[-1]:.1f} s ({machine_line()})")
    o, p = median(ours_t), median(peer_t)
    print_table([
        {"side": "ours (FilterStage, Dask)", "median s": o, "docs/s": n / o, "docs kept": ours_kept},
        {"side": "datatrove (LocalPipelineExecutor)", "median s": p, "docs/s": n / p, "docs kept": peer_kept},
    ], floatfmt=".1f")
    a, b = kept_ids_ours(args.work / "filter_out_ours"), kept_ids_datatrove(args.work / "filter_out_datatrove")
    print(f"ratio (ours / datatrove docs/s): {p / o:.2f}x   target >= 1.5x: {'met' if p / o >= 1.5 else 'NOT met'}")
    print(f"same documents kept: {a == b} (ours only {len(a - b)}, datatrove only {len(b - a)})")


def agreement(args: argparse.Namespace) -> None:
    """Our tokenizer and filters vs datatrove's spaCy-based ones, document by document."""
    import pyarrow as pa
    from datatrove.data import Document
    from datatrove.pipeline import filters as dtf
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from filters.base import build_filter
    from filters.support.word_tokenizer import word_tokenize

    docs = load_documents(args.work)[: args.docs]
    texts = [d["text"] for d in docs]
    spacy_tok = load_word_tokenizer("eng")
    t0 = time.perf_counter()
    ref = [spacy_tok.word_tokenize(t) for t in texts]
    t_spacy = time.perf_counter() - t0
    word_tokenize.cache_clear()
    t0 = time.perf_counter()
    ours = [word_tokenize(t) for t in texts]
    t_ours = time.perf_counter() - t0
    same_docs = sum(a == b for a, b in zip(ours, ref, strict=True))
    print(f"{len(texts)} documents; {machine_line()}")
    print(f"word tokens: identical token sequence in {same_docs}/{len(texts)} documents "
          f"({100 * same_docs / len(texts):.2f}%); {sum(map(len, ref)):,} spaCy tokens, "
          f"{sum(map(len, ours)):,} ours; time spaCy {t_spacy:.1f} s, ours (cold cache) {t_ours:.1f} s")
    table = pa.table({"id": [d["id"] for d in docs], "text": texts})
    pairs = [("gopher_repetition", dtf.GopherRepetitionFilter()),
             ("gopher_quality", dtf.GopherQualityFilter()),
             ("c4", dtf.C4QualityFilter(filter_no_terminal_punct=False)),
             ("fineweb_quality", dtf.FineWebQualityFilter())]
    rows = []
    for name, peer in pairs:
        res = build_filter({"type": name}).filter_table(table)
        agree = kept = 0
        for text, k in zip(texts, res.keep, strict=True):
            r = peer.filter(Document(text=text, id="x"))
            ok = r[0] if isinstance(r, tuple) else r
            agree += bool(ok) == bool(k)
            kept += bool(ok)
        rows.append({"filter": name, "same decision": f"{agree}/{len(texts)}",
                     "agreement": f"{100 * agree / len(texts):.2f}%", "kept (datatrove+spaCy)": kept,
                     "kept (ours)": int(res.keep.sum())})
    print_table(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=2000, help="documents to use (of ~4,100)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=8, help="input files = tasks/partitions per side")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="cache and scratch folder")
    ap.add_argument("--agreement", action="store_true", help="compare tokens and decisions with spaCy's")
    args = ap.parse_args()
    agreement(args) if args.agreement else bench(args)


if __name__ == "__main__":
    main()
