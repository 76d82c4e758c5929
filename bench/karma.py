"""``karma build`` throughput and memory, and the extract-stage speed-up from URL pushdown.

    .venv/bin/python bench/karma.py [--lines 2000000] [--files 4] [--workers 2] [--repeats 3]
                                    [--memory 1000000,2000000,4000000] [--pages 400] [--only build,memory,pushdown]

Inputs are generated under ``--work`` (default ``/tmp/cf_bench_karma``; never committed) from the real
Pushshift records in ``../shared/data/reddit`` (1,182 submissions from 2005 + 31 in the 2024 format):

1. **build**: ``--lines`` submissions in ``--files`` zstd dumps. Line i is real record i mod 1,213 with a new
   id, a pseudo-random score and, from its second copy on, a copy number added to the URL's path, so every
   link URL is distinct (the worst case for the table; real monthly dumps are mostly distinct URLs too).
   Interleaved per repeat:
   - ours on Dask: ``run_stage(KarmaBuildStage(), ...)`` on a LocalCluster of ``--workers`` processes (start-up
     included);
   - ours in one process: :func:`one_process` (the same map and merge functions, called in this process, no
     Dask): lines per CPU second;
   - peer: the OpenWebText recipe (jcpeterson/openwebtext ``extract_urls.py`` + ``deduplicate_urls.py``),
     re-implemented here: stdlib ``json.loads`` per line, keep ``score >= 3``, not NSFW, not an excluded
     domain or file extension; then de-duplicate by (host, unquoted path). It does not aggregate karma,
     posts, subreddits or first-seen per URL, so it does less work than ours.
2. **memory**: peak RSS of a process running the map step (``scan_dump``) on one dump of each size in
   ``--memory`` whose URLs repeat (50 variants of each real URL): lines grow, distinct URLs do not, so a
   streaming reader shows a flat peak. (The table itself is O(distinct URLs), as any table must be.)
3. **pushdown**: a WARC of ``--pages`` real pages (``../shared/data/web_extraction``, real URLs) and a
   karma table that holds 10% of their URLs, built from SYNTHETIC posts (the real 2005 dumps link none of
   these pages). ``ExtractStage.process`` runs with the karma filter as pushdown, and without it followed
   by the same filter on the extracted documents; both must keep the same documents. Speed-up = ratio.

The machine is shared (2 cores, several agents): every row records the load average; compare medians and
ratios, and the per-CPU-second figures, not single wall times.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import lzma
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from _common import (
    REPO_ROOT,
    SHARED_DATA,
    WEB_EXTRACTION,
    add_repo_to_path,
    import_build_samples,
    load_average,
    machine_line,
    median,
    print_table,
)

add_repo_to_path()

DEFAULT_WORK = Path("/tmp/cf_bench_karma")
REDDIT = SHARED_DATA / "reddit"


# ------------------------------------------------------------------------------------------- inputs
def real_records() -> list[dict[str, Any]]:
    recs = []
    for name in ("RS_v2_2005-06.xz", "RS_v2_2005-07.xz"):
        recs += [json.loads(line) for line in lzma.open(REDDIT / "pushshift_RS_2005" / name)]
    recs += [json.loads(line) for line in open(REDDIT / "pushshift_2024_sample" / "test_submissions.json")]
    return recs


def _vary_url(url: str, copy: int) -> str:
    if not copy or not url:
        return url
    cut = min([i for i in (url.find("?"), url.find("#")) if i != -1] or [len(url)])
    return f"{url[:cut].rstrip('/')}/v{copy}{url[cut:]}"


def write_dump(path: Path, start: int, n: int, recs: list[dict[str, Any]], variants: int | None) -> None:
    """``n`` scaled-up submissions (lines ``start .. start+n``) as one zstd dump.

    zstd level 3 with its default window: Pushshift's own dumps use ``--long=31``, whose 2 GiB window makes
    any decoder hold up to 2 GiB per file being read (see the memory section's note)."""
    import zstandard

    try:
        import orjson

        dumps = orjson.dumps
    except ImportError:  # slower, same bytes up to whitespace
        def dumps(o: Any) -> bytes:
            return json.dumps(o, separators=(",", ":")).encode()

    rng = random.Random(start)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh, zstandard.ZstdCompressor(level=3).stream_writer(fh) as w:
        buf = []
        for i in range(start, start + n):
            r = dict(recs[i % len(recs)])
            copy = i // len(recs)
            r["id"] = format(i, "x")
            r["score"] = rng.choice((0, 1, 1, 1, 2, 2, 3, 4, 5, 8, 13, 40))  # most posts score low
            r["url"] = _vary_url(r.get("url") or "", copy % variants if variants else copy)
            buf.append(dumps(r))
            if len(buf) >= 10_000:
                w.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            w.write(b"\n".join(buf) + b"\n")
    tmp.rename(path)


def build_dumps(work: Path, lines: int, files: int) -> list[str]:
    recs = real_records()
    per = -(-lines // files)
    paths = []
    t0 = time.perf_counter()
    for f in range(files):
        p = work / "dumps" / f"RS_scaled_{lines}_{f:02d}.zst"
        p.parent.mkdir(parents=True, exist_ok=True)
        n = min(per, lines - f * per)
        if not p.exists():
            write_dump(p, f * per, n, recs, None)
        paths.append(str(p))
    size = sum(os.path.getsize(p) for p in paths)
    print(f"dumps: {files} x ~{per:,} lines, {size / 1e6:.0f} MB zstd ({time.perf_counter() - t0:.0f} s)", flush=True)
    return paths


# -------------------------------------------------------------------------------------------- peer
# OpenWebText's exclusions, as far as the karma table's own options reach (image/video hosts, reddit).
def _peer_excluded() -> tuple[frozenset[str], tuple[str, ...]]:
    from pipelines.karma import IMAGE_HOSTS, MEDIA_EXTENSIONS, REDDIT_DOMAINS

    return IMAGE_HOSTS | REDDIT_DOMAINS, MEDIA_EXTENSIONS


def peer_openwebtext(paths: list[str], min_karma: int = 3) -> int:
    """OpenWebText's URL list, re-implemented: per line ``json.loads``; keep posts with enough score,
    not NSFW, not on an excluded domain (base domain = last two labels) or with a media extension; then
    de-duplicate by (host, unquote_plus(path)) after ``html.unescape``. Returns the number of URLs."""
    import zstandard

    domains, exts = _peer_excluded()
    good: list[str] = []
    for p in paths:
        with open(p, "rb") as fh:
            reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh)
            for line in io.TextIOWrapper(reader, encoding="utf-8"):
                j = json.loads(line)
                url = j.get("url") or ""
                host = (urlsplit(url).hostname or "")
                base = ".".join(host.split(".")[-2:])
                bad = (base in domains or host in domains or url.split("?")[0].lower().endswith(exts)
                       or len(url) < 10)
                if not bad and (j.get("score") or 0) > min_karma - 1 and not j.get("over_18"):
                    good.append(url)
    seen = set()
    for url in good:
        parts = urlsplit(html.unescape(url))
        seen.add((parts.netloc, unquote_plus(parts.path)))
    return len(seen)


# -------------------------------------------------------------------------------------------- build
def _timed(fn: Any) -> dict[str, float]:
    la = load_average()[0]
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "load": la, "out": out}


def one_process(paths: list[str], out: str) -> int:
    """The step's map (:func:`scan_dump`) and merge in this process, written as one table part; URLs kept."""
    from pipelines.karma import KarmaBuildConfig, scan_dump, write_bucket
    from pipelines.karma.aggregate import merge_partials

    cfg = KarmaBuildConfig()
    merged = merge_partials([scan_dump(p, cfg, raw_tail=True) for p in paths], cfg.aggregate)
    return write_bucket(merged, out, cfg, 0)[2]


def bench_build(work: Path, lines: int, files: int, workers: int, repeats: int) -> None:
    from corpus_forge.cluster import get_client
    from corpus_forge.runner import run_stage
    from pipelines.karma import KarmaBuildStage

    paths = build_dumps(work, lines, files)
    runs: dict[str, list[dict[str, float]]] = {"ours-dask": [], "ours-dask-warm": [], "ours-1proc": [],
                                                "peer-openwebtext": []}
    out = work / "out"
    for r in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        runs["ours-dask"].append(_timed(lambda: run_stage(
            KarmaBuildStage(), paths, str(out / "dask"), workers=workers, progress=False)["urls_kept"]))
        with get_client(workers=workers, quiet=True) as client:
            client.run(lambda: __import__("pipelines.karma"))  # workers import the code before the clock
            runs["ours-dask-warm"].append(_timed(lambda: run_stage(
                KarmaBuildStage(), paths, str(out / "warm"), client=client, progress=False)["urls_kept"]))
        runs["ours-1proc"].append(_timed(lambda: one_process(paths, str(out / "local"))))
        runs["peer-openwebtext"].append(_timed(lambda: peer_openwebtext(paths)))
        print(f"repeat {r + 1}/{repeats} done ({machine_line()})", flush=True)
    rows = []
    for side, rs in runs.items():
        wall, cpu = median(x["wall"] for x in rs), median(x["cpu"] for x in rs)
        one_proc = side in ("ours-1proc", "peer-openwebtext")
        rows.append({"side": side, "processes": 1 if one_proc else workers, "lines": lines,
                     "wall_s": wall, "lines/s": lines / wall,
                     "lines/cpu_s": lines / cpu if one_proc else None,
                     "urls": int(rs[-1]["out"]), "load": median(x["load"] for x in rs)})
    print(f"\n== build: {lines:,} submissions in {files} zstd dumps, medians of {repeats} ==")
    for side, rs in runs.items():  # every run, not only the median: the machine is noisy
        print(f"{side:>18s} runs (lines/s): " + ", ".join(f"{lines / x['wall']:,.0f}" for x in rs))
    print_table(rows, floatfmt=".1f")
    base = next(r for r in rows if r["side"] == "peer-openwebtext")
    for r in rows:
        if r["side"] != base["side"]:
            print(f"ratio {r['side']} / peer (wall lines/s): {r['lines/s'] / base['lines/s']:.2f}x"
                  + (f"; per CPU second: {r['lines/cpu_s'] / base['lines/cpu_s']:.2f}x" if r["lines/cpu_s"] else ""))
    one = next(r for r in rows if r["side"] == "ours-1proc")
    warm = next(r for r in rows if r["side"] == "ours-dask-warm")
    print(f"target >= 200,000 submissions/s on 2 cores: Dask wall {warm['lines/s']:,.0f}/s (warm cluster, "
          f"machine load {warm['load']:.1f}); CPU-bound estimate 2 x {one['lines/cpu_s']:,.0f} = "
          f"{2 * one['lines/cpu_s']:,.0f}/s")
    print("note: the peer counts URLs from posts with score >= 3 after its own de-duplication; ours counts "
          "normalized URLs whose best post has karma >= 3, after also dropping deleted/removed posts")


# ------------------------------------------------------------------------------------------- memory
_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from pipelines.karma import scan_dump
t0, c0 = time.perf_counter(), time.process_time()
p = scan_dump({path!r})
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork + exec)
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print(json.dumps({{"rss_mb": hwm / 1024,
                  "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "lines": p.counters.documents_in, "urls": p.main.num_rows}}))
"""


def bench_memory(work: Path, sizes: list[int]) -> None:
    """Peak RSS of the map step for dumps of growing length and a fixed set of distinct URLs."""
    recs = real_records()
    unit = min(sizes)
    block = work / "memory" / f"block_{unit}.zst"
    block.parent.mkdir(parents=True, exist_ok=True)
    if not block.exists():
        write_dump(block, 0, unit, recs, variants=50)
    rows = []
    for n in sizes:
        path = work / "memory" / f"RS_repeat_{n}.zst"
        if not path.exists():  # n / unit copies of the block: concatenated zstd frames, as the reader allows
            data = block.read_bytes()
            with open(path, "wb") as f:
                for _ in range(n // unit):
                    f.write(data)
        res = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(REPO_ROOT), path=str(path))],
                             capture_output=True, text=True, check=True)
        m = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append({"lines": m["lines"], "distinct_urls": m["urls"], "peak_rss_MB": m["rss_mb"],
                     "wall_s": m["wall"], "lines/cpu_s": m["lines"] / m["cpu"], "load": load_average()[0]})
    print(f"\n== memory: map step (scan_dump) on one dump, fixed distinct URLs ({machine_line()}) ==")
    print_table(rows, floatfmt=".1f")
    print(f"peak RSS from {rows[0]['lines']:,} to {rows[-1]['lines']:,} lines: "
          f"{rows[0]['peak_rss_MB']:.0f} -> {rows[-1]['peak_rss_MB']:.0f} MB")


# ----------------------------------------------------------------------------------------- pushdown
def build_pushdown_inputs(work: Path, n_pages: int) -> tuple[str, str, list[str]]:
    """(warc, karma table dir, the URLs that pass). 10% of the pages get a SYNTHETIC post with karma 5."""
    bs = import_build_samples()
    pages = [p for p in bs.load_pages(WEB_EXTRACTION, ("scrapinghub_aeb", "trafilatura_eval"))
             if not p.synthetic_url]
    pages = sorted(pages, key=lambda p: bs.rank(p.url))[:n_pages]
    warc = work / "pushdown" / f"pages-{len(pages)}.warc.gz"
    warc.parent.mkdir(parents=True, exist_ok=True)
    if not warc.exists():
        bs.write_warc(warc, [bs.page_capture(p) for p in pages], description="corpus-forge karma bench")
    passing = [p.url for i, p in enumerate(pages) if i % 10 == 0]
    dump = work / "pushdown" / "synthetic_posts.ndjson"
    with open(dump, "w") as f:  # SYNTHETIC: no real Reddit post links these pages in our data
        for i, url in enumerate(passing):
            f.write(json.dumps({"id": f"synthetic{i}", "url": url, "score": 5, "created_utc": 1716000000,
                                "subreddit": "synthetic", "is_self": False, "over_18": False}) + "\n")
    table = work / "pushdown" / "table"
    one_process([str(dump)], str(table))
    return str(warc), str(table), passing


def bench_pushdown(work: Path, n_pages: int, repeats: int) -> None:
    from corpus_forge.stage import Partition
    from filters.base import build_filter
    from pipelines.extract import ExtractConfig, ExtractStage

    warc, table, passing = build_pushdown_inputs(work, n_pages)
    spec = {"type": "karma", "table": table}
    part = Partition(key="bench", path=warc)

    def without() -> set[str]:
        res = ExtractStage(ExtractConfig()).process(part)
        keep = build_filter(spec).filter_table(res.kept).keep
        return set(res.kept.filter(keep)["url"].to_pylist())

    def with_pushdown() -> set[str]:
        res = ExtractStage(ExtractConfig(url_filters=[spec])).process(part)
        return set(res.kept["url"].to_pylist())

    runs: dict[str, list[dict[str, Any]]] = {"extract then filter": [], "pushdown": []}
    for _ in range(repeats):
        runs["extract then filter"].append(_timed(without))
        runs["pushdown"].append(_timed(with_pushdown))
    kept_a, kept_b = runs["extract then filter"][-1]["out"], runs["pushdown"][-1]["out"]
    assert kept_a == kept_b, "pushdown must keep the same documents as filtering after extraction"
    rows = [{"side": k, "records": n_pages, "pass": len(passing), "kept_docs": len(v[-1]["out"]),
             "wall_s": median(x["wall"] for x in v), "cpu_s": median(x["cpu"] for x in v),
             "load": median(x["load"] for x in v)} for k, v in runs.items()]
    print(f"\n== pushdown: extract stage on {n_pages} real pages, {len(passing)} ({len(passing) / n_pages:.0%}) "
          f"in the karma table, medians of {repeats} ==")
    print_table(rows, floatfmt=".2f")
    print(f"speed-up from pushdown: wall {rows[0]['wall_s'] / rows[1]['wall_s']:.1f}x, "
          f"CPU {rows[0]['cpu_s'] / rows[1]['cpu_s']:.1f}x (same {len(kept_b)} documents kept)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory", default="1000000,2000000,4000000", help="dump sizes (lines) for the memory run")
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--only", default="build,memory,pushdown")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    print(machine_line(), flush=True)
    only = set(args.only.split(","))
    if "build" in only:
        bench_build(args.work, args.lines, args.files, args.workers, args.repeats)
    if "memory" in only:
        bench_memory(args.work, sorted(int(x) for x in args.memory.split(",")))
    if "pushdown" in only:
        bench_pushdown(args.work, args.pages, args.repeats)
    print(f"\n{machine_line()}; resource peak of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
