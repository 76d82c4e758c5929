"""Cost against work: the default recipe, extract through pack plus one small training run, at 1x, 4x and 16x.

    .venv/bin/python bench/scale.py [--base 4172] [--multiples 1,4,16] [--workers 2] [--memory-limit 3GiB]

Input: the first ``--base`` real pages of ``../shared/data/web_extraction`` at 1x; beyond, new distinct pages
recombined from the real pages' paragraphs within a language, with fresh URLs (bench/scale_input.py says
how). The cluster is started the way a user starts one (bench/_cluster.py): ``dask scheduler`` and
``--workers`` × ``dask worker --nthreads 1 --memory-limit M`` on 127.0.0.1; this process is the client.

Steps (the webtext recipe without its Reddit table and ablation): extract, filter (FineWeb's list), dedup,
decontaminate (excise), filter (quality top_fraction 0.5), bpe (4,096; a 4 MiB sample), pack (one mix; 1M-token
shards: ``BPE_SAMPLE_BYTES`` says why), and train (tiny GPT,
a fixed number of steps, a process of its own). Per step: wall s, CPU s (client + scheduler + workers), peak
RSS of the client, the scheduler and each worker, bytes Dask spilled, peak scratch disk (workers' local
directories and the file cache). Then time = a + b*N per step (least squares over the multiples), the targets
(time per page at the largest multiple within 1.15x of the second largest; peak RSS of every worker and of
the client at the largest within 1.2x of the smallest), and a log-log plot ``--plot``. The machine is shared
and noisy: say so with the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _cluster import LoopbackCluster, spilled_bytes
from _common import add_repo_to_path, machine_line, print_table

add_repo_to_path()

FILTERS = [{"type": "langid", "languages": ["en"], "threshold": 0.65}, {"type": "gopher_repetition"},
           {"type": "gopher_quality"}, {"type": "c4"}, {"type": "fineweb_quality"}]


# The structures each worker bounds by an option are sized for a snapshot: bpe trains on at most 1 GiB of text
# and pack writes shards of 1e8 tokens, both far above the whole corpus here (1x: 5 MB of text, 1.5M tokens;
# 16x: 63 MB, 19M). With those, 1x -> 16x measures the sample and the shard filling up to their bounds (the
# 2026-12-06 run: worker peak 1.26x, bpe's task +68 MB). Sized below the 1x corpus instead, every multiple
# runs the way a snapshot does, with the bounds full.
BPE_SAMPLE_BYTES = 4 * 2**20
SHARD_TOKENS = 1_000_000


def plan(out: Path, sample_bytes: int = BPE_SAMPLE_BYTES,
         shard_tokens: int = SHARD_TOKENS) -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(id, step, options, input id or None for the WARCs)."""
    return [
        ("extract", "extract", {"time_limit": 5, "max_html_bytes": 2097152}, None),
        ("filter", "filter", {"filters": FILTERS}, "extract"),
        ("dedup", "dedup", {}, "filter"),
        ("decontaminate", "decontaminate", {"action": "excise"}, "dedup"),
        ("quality", "filter", {"filters": [{"type": "quality", "mode": "top_fraction", "fraction": 0.5}]},
         "decontaminate"),
        ("bpe", "bpe", {"vocab_size": 4096, "sample_bytes": sample_bytes}, "quality"),
        ("pack", "pack", {"tokenizer": str(out / "bpe"), "mix": {"seed": 0, "shard_tokens": shard_tokens, "mixes": {
            "curated": {"val_fraction": 0.05, "sources": [{"path": str(out / "quality"), "name": "web"}]}}}}, None),
    ]


def cpu_seconds(procs: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name, p in procs.items():
        try:
            t = p.cpu_times()
            out[name] = t.user + t.system + t.children_user + t.children_system
        except Exception:
            out[name] = 0.0
    return out


def measure(cluster: LoopbackCluster, client: Any, fn: Any, extra_pid: list[int] | None = None) -> dict[str, Any]:
    import psutil

    procs = {"client": psutil.Process(), **cluster.processes()}
    nannies = {f"nanny-{i}": psutil.Process(p.pid) for i, p in enumerate(cluster.procs[1:], 1)}
    c0 = cpu_seconds({**procs, **nannies})
    s0 = spilled_bytes(client)
    with cluster.meter() as m:
        t0 = time.perf_counter()
        extra = fn(m)
        wall = time.perf_counter() - t0
    c1 = cpu_seconds({**procs, **nannies})
    return {"wall": wall, "cpu": sum(c1.values()) - sum(c0.values()), "rss": dict(m.peaks),
            "spilled": spilled_bytes(client) - s0, "scratch": m.scratch_peak, **(extra or {})}


def run_multiple(cluster: LoopbackCluster, warcs: list[str], out: Path, train_steps: int,
                 bounds: dict[str, int]) -> list[dict[str, Any]]:
    from distributed import Client

    from corpus_forge.registry import step_class
    from corpus_forge.runner import run_stage

    rows = []
    shutil.rmtree(out, ignore_errors=True)
    with Client(cluster.address) as client:
        for sid, name, opts, src in plan(out, **bounds):
            stage = step_class(name).from_options(opts)
            inputs = warcs if src is None and name == "extract" else ([] if src is None else [str(out / src)])

            def go(m: Any, stage: Any = stage, inputs: list[str] = inputs, sid: str = sid) -> dict[str, Any]:
                stats = run_stage(stage, inputs, str(out / sid), client=client, progress=False)
                return {"in": stats.get("documents_in"), "out": stats.get("documents_out")}

            r = measure(cluster, client, go)
            rows.append({"step": sid, **r})
            print(f"  {sid}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, in {r['in']} out {r['out']}", flush=True)

        def train(m: Any) -> dict[str, Any]:
            import psutil

            cmd = [str(Path(sys.executable).parent / "corpus-forge"), "train",
                   "--shards", str(out / "pack" / "curated"), "--out", str(out / "train"), "--model", "tiny",
                   "--max-steps", str(train_steps), "--device", "cpu"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            m.procs["train"] = psutil.Process(proc.pid)
            m.peaks["train"] = 0
            _, err = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"train failed: {err.decode()[-500:]}")
            return {"in": train_steps, "out": None}

        r = measure(cluster, client, train)
        rows.append({"step": "train", **r})
        print(f"  train: {r['wall']:.1f} s wall", flush=True)
    return rows


def fit(ns: list[int], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b*n."""
    import numpy as np

    b, a = np.polyfit(np.asarray(ns, float), np.asarray(ys, float), 1) if len(ns) > 1 else (ys[0] / ns[0], 0.0)
    return float(a), float(b)


def report(results: dict[int, dict[str, Any]], plot: Path) -> dict[str, Any]:
    mults = sorted(results)
    pages = {m: results[m]["pages"] for m in mults}
    steps = [r["step"] for r in results[mults[0]]["rows"]]
    table = []
    for s in steps:
        rows = {m: next(r for r in results[m]["rows"] if r["step"] == s) for m in mults}
        a, b = fit([pages[m] for m in mults], [rows[m]["wall"] for m in mults])
        row: dict[str, Any] = {"step": s, "a (s)": a, "b (ms/page)": 1e3 * b}
        for m in mults:
            r = rows[m]
            workers = [v for k, v in r["rss"].items() if k.startswith("worker")]
            row[f"{m}x wall s"] = r["wall"]
            row[f"{m}x CPU s"] = r["cpu"]
            row[f"{m}x client MB"] = r["rss"].get("client", 0) / 2**20
            row[f"{m}x sched MB"] = r["rss"].get("scheduler", 0) / 2**20
            row[f"{m}x worker max MB"] = max(workers) / 2**20 if workers else 0.0
            row[f"{m}x spilled MB"] = r["spilled"] / 2**20
            row[f"{m}x scratch MB"] = r["scratch"] / 2**20
        table.append(row)
    print_table(table, floatfmt=".1f")
    first, second, last = mults[0], mults[-2] if len(mults) > 1 else mults[0], mults[-1]
    total = {m: sum(r["wall"] for r in results[m]["rows"] if r["step"] != "train") for m in mults}
    per_page = {m: total[m] / pages[m] for m in mults}

    def peak(m: int, who: str) -> float:
        return max((v for r in results[m]["rows"] for k, v in r["rss"].items() if k.startswith(who)), default=0)

    workers = sorted(k for k in results[first]["rows"][0]["rss"] if k.startswith("worker"))
    targets = {
        "time_per_page_ratio": per_page[last] / per_page[second],
        "worker_rss_ratio": max(peak(last, w) / max(1, peak(first, w)) for w in workers),
        "client_rss_ratio": peak(last, "client") / max(1, peak(first, "client")),
    }
    print("time per page (extract..pack): " + ", ".join(f"{m}x {1e3 * per_page[m]:.1f} ms" for m in mults))
    print(f"target time/page {last}x within 1.15x of {second}x: {targets['time_per_page_ratio']:.3f} "
          f"({'met' if targets['time_per_page_ratio'] <= 1.15 else 'missed'})")
    for k in ("worker_rss_ratio", "client_rss_ratio"):
        print(f"target {k.replace('_', ' ')} {last}x / {first}x within 1.2: {targets[k]:.3f} "
              f"({'met' if targets[k] <= 1.2 else 'missed'})")
    _plot(results, pages, steps, plot)
    return {"per_page_s": per_page, "targets": targets, "table": table}


def _plot(results: dict[int, dict[str, Any]], pages: dict[int, int], steps: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mults = sorted(results)
    fig, ax = plt.subplots(figsize=(7, 5))
    xs = [pages[m] for m in mults]
    for s in steps:
        ys = [next(r["wall"] for r in results[m]["rows"] if r["step"] == s) for m in mults]
        ax.plot(xs, ys, marker="o", label=s)
    lo, hi = min(xs), max(xs)
    ref = next(r["wall"] for r in results[mults[0]]["rows"] if r["step"] == "extract")
    ax.plot([lo, hi], [ref, ref * hi / lo], "k--", lw=1, label="linear (from extract at 1x)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pages in (WARC records of HTML pages)")
    ax.set_ylabel("wall seconds per step")
    ax.set_title("corpus-forge cost against work (loopback cluster, 2 workers)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=int, default=4172, help="real pages at 1x (at most 4,172)")
    ap.add_argument("--multiples", default="1,4,16")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GiB")
    ap.add_argument("--files", type=int, default=0, help="WARC files per multiple (default: 8 per 1x)")
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--sample-bytes", type=int, default=BPE_SAMPLE_BYTES,
                    help="bpe sample_bytes (default: below the 1x corpus; the product's default is 1 GiB)")
    ap.add_argument("--shard-tokens", type=int, default=SHARD_TOKENS,
                    help="pack shard_tokens (default: below the 1x corpus; the product's default is 1e8)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/cf-scale"))
    ap.add_argument("--plot", type=Path, default=Path("docs/scale.png"))
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = ap.parse_args()
    results: dict[int, dict[str, Any]] = {}
    mults = [int(x) for x in args.multiples.split(",")]
    print(machine_line(), flush=True)
    for m in mults:
        files = args.files * m if args.files else 8 * m
        got = subprocess.run([sys.executable, str(Path(__file__).with_name("scale_input.py")), str(args.work),
                              str(args.base), str(m), str(files)], capture_output=True, text=True, check=True)
        warcs, pages = json.loads(got.stdout.strip().splitlines()[-1])  # built apart: not in the client's RSS
        print(f"{m}x: {pages} pages in {len(warcs)} WARCs", flush=True)
        # a fresh cluster per multiple, so each starts from cold workers (RSS only grows in a long-lived one)
        with LoopbackCluster(args.workers, args.memory_limit, args.work / f"scratch-{m}x") as cluster:
            rows = run_multiple(cluster, warcs, args.work / f"out-{m}x", args.train_steps,
                                {"sample_bytes": args.sample_bytes, "shard_tokens": args.shard_tokens})
        results[m] = {"pages": pages, "rows": rows}
    print(machine_line())
    summary = report(results, args.plot)
    if args.json:
        args.json.write_text(json.dumps({"results": results, **summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
