"""End to end: the default flow on WARCs of every real page in ``../shared/data/web_extraction``, next to the
same flow assembled from datatrove's steps.

    .venv/bin/python bench/e2e.py [--workers 2] [--files 8] [--vocab 8192]

Builds WARC files (not committed; ``bench/extract.py``'s builder, 4,172 pages) under ``--work``, then runs,
on ``--workers`` single-threaded worker processes each:

- ours, one Dask client for the whole flow: ``extract`` → ``filter`` (FineWeb's list: langid, Gopher
  repetition and quality, C4, FineWeb rules) → ``dedup`` (exact + MinHash LSH 14 × 8) → ``decontaminate`` →
  ``bpe`` → ``pack`` (one mix), each step through the runner;
- datatrove: ``WarcReader`` → ``Trafilatura`` → ``LanguageFilter`` → ``GopherRepetitionFilter`` →
  ``GopherQualityFilter`` → ``C4QualityFilter`` → ``FineWebQualityFilter`` → ``JsonlWriter`` (one pipeline, as
  datatrove runs it), its four MinHash steps (14 × 8), and ``DocumentTokenizer`` with the tokenizer our ``bpe``
  trained (datatrove trains none and has no decontamination step: those rows are ours only).

Per step: wall seconds and CPU seconds of this process and every worker process (``_common.CpuMeter``);
then pages per second end to end (HTML pages in the WARCs / total wall) and pages per CPU second, and the
ratios. The machine is shared and noisy: read the ratios and the per-CPU-second figures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _common import WEB_EXTRACTION, CpuMeter, add_repo_to_path, machine_line

add_repo_to_path()

STEPS: list[tuple[str, dict[str, Any]]] = [
    ("extract", {"time_limit": 5}),
    ("filter", {}),  # FineWeb's filters are the default list
    ("dedup", {}),
    ("decontaminate", {"action": "drop"}),
]


def run_ours(warcs: list[str], work: Path, workers: int, vocab: int) -> tuple[list[dict[str, Any]], Path]:
    from corpus_forge.cluster import get_client
    from corpus_forge.registry import step_class
    from corpus_forge.runner import run_stage

    rows: list[dict[str, Any]] = []
    out = work / "ours"
    shutil.rmtree(out, ignore_errors=True)
    current = warcs
    with get_client(workers=workers, quiet=True) as client:
        plan = [*STEPS, ("bpe", {"vocab_size": vocab, "sample_bytes": 1 << 30}),
                ("pack", {"tokenizer": str(out / "05-bpe"),
                          "mix": {"seed": 0, "shard_tokens": 10_000_000,
                                  "mixes": {"web": {"val_fraction": 0.0,
                                                    "sources": [{"path": str(out / "04-decontaminate")}]}}}})]
        for i, (name, opts) in enumerate(plan, 1):
            step_out = out / f"{i:02d}-{name}"
            stage = step_class(name).from_options(opts)
            with CpuMeter() as cpu:
                t0 = time.perf_counter()
                stats = run_stage(stage, [] if name == "pack" else current, str(step_out), client=client,
                                  progress=False)
                wall = time.perf_counter() - t0
            rows.append({"step": name, "wall": wall, "cpu": cpu.seconds, "in": stats["documents_in"],
                         "out": stats["documents_out"]})
            if name in ("extract", "filter", "dedup", "decontaminate"):
                current = [str(step_out)]
    return rows, out / "05-bpe"


def run_datatrove(warc_dir: str, work: Path, workers: int, files: int, tokenizer: Path) -> list[dict[str, Any]]:
    import xxhash
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.pipeline.writers import JsonlWriter

    base = work / "datatrove"
    shutil.rmtree(base, ignore_errors=True)
    kw = {"logging_dir": None, "skip_completed": False}
    cfg = MinhashConfig(num_buckets=14, hashes_per_bucket=8)
    rows = []

    def timed(step: str, fn: Any) -> None:
        with CpuMeter() as cpu:
            t0 = time.perf_counter()
            fn()
            wall = time.perf_counter() - t0
        rows.append({"step": step, "wall": wall, "cpu": cpu.seconds, "in": "", "out": ""})

    from filter import datatrove_pipeline  # bench/filter.py: the same filters, lid.176.ftz loaded locally

    filters = datatrove_pipeline(str(base), str(base))[1:-1]
    timed("extract+filter", LocalPipelineExecutor([
        WarcReader(warc_dir, glob_pattern="*.warc.gz"), Trafilatura(), *filters,
        JsonlWriter(str(base / "filtered"))], tasks=files, workers=workers, **kw).run)
    sign = MinhashDedupSignature(str(base / "sigs"), cfg)
    sign._hash_func = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8"))  # datatrove 0.10 vs xxhash 4

    def dedup() -> None:
        LocalPipelineExecutor([JsonlReader(str(base / "filtered")), sign], tasks=files, workers=workers, **kw).run()
        LocalPipelineExecutor([MinhashDedupBuckets(str(base / "sigs"), str(base / "buckets"), config=cfg)],
                              tasks=14, workers=workers, **kw).run()
        LocalPipelineExecutor([MinhashDedupCluster(str(base / "buckets"), str(base / "remove"), config=cfg)],
                              tasks=1, workers=1, **kw).run()
        LocalPipelineExecutor([JsonlReader(str(base / "filtered")), MinhashDedupFilter(str(base / "remove")),
                               JsonlWriter(str(base / "dedup"))], tasks=files, workers=workers, **kw).run()

    timed("minhash dedup (4 steps)", dedup)
    timed("tokenize", LocalPipelineExecutor([
        JsonlReader(str(base / "dedup")),
        DocumentTokenizer(str(base / "tokens"), tokenizer_name_or_path=str(tokenizer / "tokenizer.json"),
                          eos_token="<|endoftext|>", local_working_dir=str(base / "tok-tmp"))],
        tasks=files, workers=workers, **kw).run)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cf_e2e"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=8192)
    args = ap.parse_args()
    if not WEB_EXTRACTION.exists():
        sys.exit(f"needs the real pages in {WEB_EXTRACTION}")
    from extract import build_warcs

    sets = tuple(sorted(p.name for p in WEB_EXTRACTION.iterdir() if p.is_dir()))
    warcs, pages = build_warcs(args.work, sets, args.files)
    print(machine_line())
    print(f"{pages:,} pages in {len(warcs)} WARCs; {args.workers} workers")
    ours, tokenizer = run_ours(warcs, args.work, args.workers, args.vocab)
    for r in ours:
        print(f"ours {r['step']:14} {r['wall']:7.1f} s wall {r['cpu']:7.1f} s CPU  {r['in']} -> {r['out']}", flush=True)
    theirs = run_datatrove(str(Path(warcs[0]).parent), args.work, args.workers, args.files, tokenizer)
    print(f"\n{'side':10} {'step':26} {'wall s':>8} {'CPU s':>8} {'docs in':>9} {'docs out':>9}")
    for side, rows in (("ours", ours), ("datatrove", theirs)):
        for r in rows:
            print(f"{side:10} {r['step']:26} {r['wall']:8.1f} {r['cpu']:8.1f} {r['in']!s:>9} {r['out']!s:>9}")
    comparable = [r for r in ours if r["step"] not in ("decontaminate", "bpe")]  # datatrove has no such steps
    w_o, c_o = sum(r["wall"] for r in comparable), sum(r["cpu"] for r in comparable)
    w_d, c_d = sum(r["wall"] for r in theirs), sum(r["cpu"] for r in theirs)
    print(f"\nsame steps (extract, filters, minhash dedup, tokenize): ours {pages / w_o:.1f} pages/s, "
          f"{pages / c_o:.2f} pages/CPU-s; datatrove {pages / w_d:.1f} pages/s, {pages / c_d:.2f} pages/CPU-s")
    print(f"ratio ours/datatrove: {w_d / w_o:.2f}x pages/s, {c_d / c_o:.2f}x pages per CPU second")
    w_all = sum(r["wall"] for r in ours)
    print(f"ours, whole flow incl. decontaminate and bpe: {pages / w_all:.1f} pages/s ({w_all:.0f} s)")


if __name__ == "__main__":
    main()
