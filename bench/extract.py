"""Our ``extract`` stage vs datatrove's WarcReader + Trafilatura, side by side, on ~4,100 real pages.

    .venv/bin/python bench/extract.py [--repeats 3] [--workers 2] [--files 8] [--sets all|licensed]
    .venv/bin/python bench/extract.py --profile      # cProfile of our stage on one partition, no Dask

Builds WARC files (not committed) under ``--work`` (default ``/tmp/cf_bench``) from every page in
``../shared/data/web_extraction`` (all 7 sets, 4,172 pages, split into ``--files`` WARCs so each side gets
that many tasks), then per repeat runs, interleaved:

- ours: ``corpus_forge.runner.run_stage(pipelines.extract.from_options(OPTIONS), warcs, out, workers=W)``
  (an embedded LocalCluster of W single-threaded worker processes; its start-up is inside the timing);
- datatrove: ``LocalPipelineExecutor([WarcReader, Trafilatura(), JsonlWriter], tasks=files, workers=W)``
  (its defaults: favour_precision, no comments, deduplicate, 1 s per-page timeout in a sandbox process).

Prints per side the median wall seconds, pages/s (HTML pages in the WARCs / wall seconds), pages/s per
worker, CPU seconds (this process and every worker process, see ``_common.CpuMeter``), documents out,
and AEB F1 (4-token shingles, the benchmark's metric) and token F1 against the 181 scrapinghub_aeb
ground-truth pages, matched by URL; then the ratio. The machine is shared: every run records the load
average; compare medians and ratios. On a contended machine the wall ratio follows whichever side ran
while others were busier and how many runnable processes each side has (datatrove runs a sandbox
process per worker); pages per CPU second is the steadier comparison and is printed next to it.
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import gzip
import hashlib
import io
import json
import os
import pstats
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    WEB_EXTRACTION,
    CpuMeter,
    add_repo_to_path,
    aeb_ground_truth,
    extraction_scores,
    import_build_samples,
    load_average,
    machine_line,
    median,
    print_table,
    timed,
)

DEFAULT_WORK = Path("/tmp/cf_bench")


# ------------------------------------------------------------------------------------------- inputs


def build_warcs(work: Path, sets: tuple[str, ...], files: int) -> tuple[list[str], int]:
    """Write every page of ``sets`` into ``files`` WARCs (round-robin in a fixed pseudo-random order).

    Skipped when a stamp file says the same pages were already written. Returns (paths, pages).
    """
    bs = import_build_samples()
    warc_dir = work / "warc"
    pages = bs.load_pages(WEB_EXTRACTION, sets)
    key = hashlib.sha256(json.dumps([sets, files, [(p.set, p.name, len(p.html)) for p in pages]]).encode())
    stamp = warc_dir / "_stamp.json"
    paths = [warc_dir / f"bench-{i:05d}.warc.gz" for i in range(files)]
    if (
        stamp.exists()
        and json.loads(stamp.read_text())["key"] == key.hexdigest()
        and all(p.exists() for p in paths)
    ):
        return [str(p) for p in paths], len(pages)
    shutil.rmtree(warc_dir, ignore_errors=True)
    caps = sorted((bs.page_capture(p) for p in pages), key=lambda c: bs.rank(c.url + c.origin))
    t0 = time.perf_counter()
    for path, part in zip(paths, bs.split_round_robin(caps, files), strict=False):
        bs.write_warc(path, part, description="corpus-forge extract benchmark (not for redistribution)")
    stamp.write_text(json.dumps({"key": key.hexdigest(), "pages": len(pages)}))
    size = sum(p.stat().st_size for p in paths)
    print(
        f"built {files} WARCs, {len(pages)} pages, {size / 1e6:.1f} MB in {time.perf_counter() - t0:.0f} s "
        f"-> {warc_dir}",
        flush=True,
    )
    return [str(p) for p in paths], len(pages)


# -------------------------------------------------------------------------------------------- sides


def _timed_run(fn: Any) -> dict[str, float]:
    """Wall seconds, CPU seconds of this process and all worker processes, and the 1-min load before."""
    la = load_average()[0]
    with CpuMeter() as cpu:
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    return {"wall": wall, "cpu": cpu.seconds, "load": la}


def run_ours(warcs: list[str], out: Path, workers: int, options: dict[str, Any]) -> dict[str, Any]:
    add_repo_to_path()
    from corpus_forge.runner import run_stage
    from pipelines.extract import ExtractStage

    shutil.rmtree(out, ignore_errors=True)
    stats: dict[str, Any] = {}

    def go() -> None:
        stats.update(run_stage(ExtractStage.from_options(options), warcs, str(out), workers=workers, progress=False))

    t = _timed_run(go)
    t["documents"] = stats.get("documents_out", 0)
    t["records"] = stats.get("documents_in", 0)
    t["removed"] = stats.get("removed", {})
    t["failed"] = stats.get("partitions_failed", 0)
    return t


def read_ours(out: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    docs: dict[str, str] = {}
    for f in sorted(glob.glob(str(out / "part-*.parquet"))):
        t = pq.read_table(f, columns=["url", "text"])
        for url, text in zip(t.column("url").to_pylist(), t.column("text").to_pylist(), strict=False):
            docs[url] = text
    return docs


def run_datatrove(warcs: list[str], out: Path, workers: int) -> dict[str, Any]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    shutil.rmtree(out, ignore_errors=True)
    warc_dir = os.path.dirname(warcs[0])
    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(warc_dir, glob_pattern="*.warc.gz"),
            Trafilatura(),
            JsonlWriter(str(out / "docs")),
        ],
        tasks=len(warcs),
        workers=workers,
        logging_dir=str(out / "logs"),
        skip_completed=False,
    )
    t = _timed_run(executor.run)
    docs = read_datatrove(out)
    t["documents"] = len(docs)
    stats_file = out / "logs" / "stats.json"
    t["timeouts"] = _datatrove_stat(stats_file, "timeout")
    return t


def _datatrove_stat(path: Path, key: str) -> int:
    try:
        stats = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    total = 0
    for step in stats if isinstance(stats, list) else []:
        v = step.get("stats", {}).get(key)
        total += int(v.get("total", v) if isinstance(v, dict) else (v or 0))
    return total


def read_datatrove(out: Path) -> dict[str, str]:
    docs: dict[str, str] = {}
    for f in sorted(glob.glob(str(out / "docs" / "*.jsonl.gz"))):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                d = json.loads(line)
                docs[d.get("metadata", {}).get("url")] = d["text"]
    return docs


def f1_row(docs: dict[str, str], truth: dict[str, str]) -> dict[str, float]:
    pairs = [(body, docs.get(url)) for url, body in truth.items()]
    aeb, tok = extraction_scores(pairs, n=4, bootstrap=300), extraction_scores(pairs, n=1)
    return {
        "F1": aeb["f1"],
        "F1_std": aeb["f1_std"],
        "P": aeb["precision"],
        "R": aeb["recall"],
        "tokF1": tok["f1"],
        "aeb_found": sum(1 for url in truth if url in docs),
    }


# ------------------------------------------------------------------------------------------ profile


def profile_ours(warcs: list[str], options: dict[str, Any], top: int = 25) -> None:
    """cProfile our stage's ``process`` on the first WARC, in this process (no Dask).

    A warm-up pass over the same partition runs first, unprofiled, so imports and lazy setup (which a
    Dask worker pays once) do not hide the steady state. Prints our own functions by cumulative time
    (where the time goes, stage by stage) and the top functions overall by own time.
    """
    add_repo_to_path()
    from pipelines.extract import ExtractStage

    stage = ExtractStage.from_options(options)
    parts = stage.partitions(warcs[:1])
    ctx = stage.prepare(parts)
    (_, warm, _) = timed(lambda: [stage.process(p, ctx) for p in parts])
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    res = [stage.process(p, ctx) for p in parts]
    prof.disable()
    wall = time.perf_counter() - t0
    docs = sum(r.kept.num_rows for r in res)
    records = sum(r.counters.documents_in for r in res)
    print(
        f"one WARC ({warcs[0]}): {records} records, {docs} documents; first (cold) pass {warm:.1f} s, "
        f"profiled pass {wall:.1f} s; {machine_line()}"
    )
    stats = pstats.Stats(prof)
    for title, sort, restrict in (
        ("our code (pipelines/, corpus_forge/) by cumulative time", "cumulative", r"pipelines|corpus_forge"),
        ("everything by cumulative time", "cumulative", None),
        ("everything by own time", "tottime", None),
    ):
        s = io.StringIO()
        stats.stream = s
        args = [restrict, top] if restrict else [top]
        stats.sort_stats(sort).print_stats(*args)
        body = [ln for ln in s.getvalue().splitlines() if ln.strip()]
        start = next((i for i, ln in enumerate(body) if ln.lstrip().startswith("ncalls")), 0)
        print(f"\n--- {title} ---")
        print("\n".join(_short(ln) for ln in body[start : start + top + 1]))


def _short(line: str) -> str:
    """Drop the site-packages / checkout prefix from paths in a pstats line."""
    return re.sub(r"/\S*/(?:site-packages|main)/(?=\S)", "", line)


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=8, help="WARC files (= tasks on each side)")
    ap.add_argument("--sets", choices=["all", "licensed", "aeb"], default="all")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--options", default="{}", help="JSON options for pipelines.extract.from_options")
    ap.add_argument("--only", choices=["ours", "datatrove"], help="run one side only")
    ap.add_argument("--profile", action="store_true", help="profile our stage on one partition and exit")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    bs = import_build_samples()
    sets = {"all": bs.ALL_SETS, "licensed": bs.LICENSED_SETS, "aeb": ("scrapinghub_aeb",)}[args.sets]
    options = json.loads(args.options)

    warcs, pages = build_warcs(args.work, tuple(sets), args.files)
    if args.profile:
        profile_ours(warcs, options)
        return 0
    truth = aeb_ground_truth()
    print(
        f"{pages} pages in {len(warcs)} WARCs; {args.workers} workers each; {args.repeats} repeats; "
        f"start: {machine_line()}",
        flush=True,
    )

    sides = [s for s in ("ours", "datatrove") if args.only in (None, s)]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    quality: dict[str, dict[str, float]] = {}
    for r in range(args.repeats):
        for side in sides if r % 2 == 0 else sides[::-1]:  # alternate who goes first
            out = args.work / f"out-{side}"
            if side == "ours":
                res = run_ours(warcs, out, args.workers, options)
                docs = read_ours(out)
            else:
                res = run_datatrove(warcs, out, args.workers)
                docs = read_datatrove(out)
            runs[side].append(res)
            quality.setdefault(side, f1_row(docs, truth))
            print(
                f"  repeat {r + 1} {side:9s}: {res['wall']:6.1f} s wall, {pages / res['wall']:6.1f} pages/s, "
                f"cpu {res['cpu']:6.1f} s, {res['documents']} docs, load {res['load']:.2f}",
                flush=True,
            )

    rows = []
    for side in sides:
        wall = median(x["wall"] for x in runs[side])
        cpu = median(x["cpu"] for x in runs[side])
        rows.append(
            {
                "system": "corpus-forge extract" if side == "ours" else "datatrove WarcReader+Trafilatura",
                "wall_s": wall,
                "pages/s": pages / wall,
                "pages/s/worker": pages / wall / args.workers,
                "cpu_s": cpu,
                "pages/cpu_s": pages / cpu if cpu else float("nan"),
                "docs": runs[side][-1]["documents"],
                **quality[side],
                "loads": " ".join(f"{x['load']:.1f}" for x in runs[side]),
            }
        )
    print(f"\n{pages} pages, {args.workers} workers, medians of {args.repeats}; end: {machine_line()}")
    print("F1 = AEB metric (4-token shingles, 181 pages matched by URL); tokF1 = single tokens")
    print_table(rows, floatfmt=".3f")
    if len(rows) == 2:
        ratio = rows[0]["pages/s"] / rows[1]["pages/s"]
        cpu_ratio = rows[0]["pages/cpu_s"] / rows[1]["pages/cpu_s"]
        df1 = rows[0]["F1"] - rows[1]["F1"]
        met = ratio >= 1.5 and df1 >= -0.005
        print(
            f"\nratio ours/datatrove: {ratio:.2f}x pages/s (wall), {cpu_ratio:.2f}x pages per CPU second; "
            f"F1 {rows[0]['F1']:.3f} vs {rows[1]['F1']:.3f} ({df1:+.3f}). "
            f"Target >= 1.5x at equal or better F1: {'MET' if met else 'NOT met'}"
        )
        loads = [median(x["load"] for x in runs[s]) for s in sides]
        if max(loads) > 1.25 * min(loads):
            print(
                f"caution: the machine was busier during one side's runs (median 1-min load "
                f"{loads[0]:.1f} ours vs {loads[1]:.1f} datatrove); the wall ratio is skewed, "
                "the per-CPU-second ratio is the steadier figure"
            )
    if "ours" in runs:
        print(f"ours, removed by reason (last run): {runs['ours'][-1]['removed']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"pages": pages, "rows": rows, "runs": runs}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
