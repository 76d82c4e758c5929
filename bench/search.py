"""``mix search`` throughput: proxies per hour on this machine, and the cost of a bigger search, estimated.

    .venv/bin/python bench/search.py                                  # the demo search (make search-demo's)
    .venv/bin/python bench/search.py SEARCH.yaml --workers 2 --out /tmp/bench-search

Runs the whole search (into a fresh temporary folder unless ``--out``) on a LocalCluster of ``--workers``
processes and times its phases on the client: packing the sources, the proxies (the map), and the rest (fit,
found mix, verification). Prints proxies per hour (proxies / wall seconds of the map), the proxies' training
tokens per second (optimizer steps only) and their fixed cost per proxy (set-up and evaluation), then the
estimated cost of ``--est-proxies`` proxies of the same model at ``--est-tokens`` tokens each: on these cores
(measured throughput, times the tokens), and on one GPU from the model's training FLOPs per token
(``GPT.flops_per_token``: 6N + 12 L T C) at a range of model FLOP utilisations, since a ~1M-parameter model
fills a small share of an H100 (an ESTIMATE, not a measurement: no GPU ran it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, add_repo_to_path, machine_line

add_repo_to_path()

from corpus_forge.cluster import get_client  # noqa: E402
from corpus_forge.runner import run_stage  # noqa: E402
from train_smoke.search.stage import SearchStage  # noqa: E402

H100_BF16 = 989e12  # dense bf16, H100 SXM data sheet (train_smoke.model.PEAK_BF16_FLOPS)


class TimedSearch(SearchStage):
    """The search with the client-side phase boundaries recorded (prepare's end, finalize's start and end)."""

    marks: dict[str, float] = {}

    def prepare(self, partitions, run):  # type: ignore[no-untyped-def]
        ctx = super().prepare(partitions, run)
        self.marks["prepared"] = time.perf_counter()
        return ctx

    def finalize(self, run, counters, markers):  # type: ignore[no-untyped-def]
        self.marks["mapped"] = time.perf_counter()
        out = super().finalize(run, counters, markers)
        self.marks["finalized"] = time.perf_counter()
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("search", nargs="?", default=str(REPO_ROOT / "pipelines" / "recipes" / "search-demo.yaml"))
    ap.add_argument("--out", default=None, help="output folder (default: a fresh temporary one)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--est-proxies", type=int, default=64)
    ap.add_argument("--est-tokens", type=int, default=5_000_000)
    args = ap.parse_args()
    args_ns = argparse.Namespace(inputs=[args.search])
    stage = TimedSearch.from_options(SearchStage.cli_options({}, args_ns))
    out = args.out or tempfile.mkdtemp(prefix="bench-search-")
    if Path(out, "_SUCCESS").exists():
        sys.exit(f"{out} holds a finished search: give a fresh --out")
    print(machine_line())
    t0 = time.perf_counter()
    with get_client(workers=args.workers, quiet=True) as client:
        stats = run_stage(stage, [args.search], out, client=client, progress=False)
    m = TimedSearch.marks
    if "prepared" not in m:
        sys.exit("no proxy ran (the proxies were finished already): give a fresh --out")
    summaries = [json.loads(p.read_text()) for p in sorted(Path(out, "proxies").glob("*/summary.json"))]
    n = len(summaries)
    proxy_wall = m["mapped"] - m["prepared"]
    tokens = sum(s["tokens_seen"] for s in summaries)
    fixed = statistics.median(s["seconds"] - s["train_seconds"] for s in summaries)
    tps = statistics.median(s["tokens_per_second"] for s in summaries)
    params = summaries[0]["params"]
    from train_smoke.model import GPT, config_for

    cfg = stage.config
    model = GPT(config_for(cfg.model, summaries[0]["vocab_size"], summaries[0].get("block_size")))
    fpt = model.flops_per_token()
    s = stats.get("search", {})
    print(f"search: {n} proxies of `{cfg.model}` ({params:,} parameters), {cfg.tokens:,} tokens each, "
          f"{args.workers} workers")
    print(f"  pack the sources   {m['prepared'] - t0:8.1f} s")
    print(f"  proxies (the map)  {proxy_wall:8.1f} s  -> {3600 * n / proxy_wall:,.0f} proxies per hour; "
          f"{tokens / proxy_wall:,.0f} tokens/s all workers together")
    print(f"  per proxy          median {tps:,.0f} tokens/s training, {fixed:.1f} s set-up + evaluation")
    print(f"  fit + verification {m['finalized'] - m['mapped']:8.1f} s  (verification: "
          f"{s.get('verify_tokens', 0):,.0f} tokens)")
    print(f"  result: {s.get('headline')}")
    est_tokens = args.est_proxies * args.est_tokens
    cpu_s = est_tokens / (tokens / proxy_wall) * 1.0
    print(f"estimate, {args.est_proxies} proxies x {args.est_tokens:,} tokens = {est_tokens:,} tokens:")
    print(f"  these {args.workers} workers, at the measured rate: {cpu_s / 3600:,.1f} h")
    flops = est_tokens * fpt
    print(f"  one H100 (989 TFLOP/s bf16 dense), {fpt:,.0f} FLOPs per token ({flops:.2e} FLOPs in all), "
          "ESTIMATED at a model FLOP utilisation of:")
    for mfu in (0.01, 0.03, 0.10):
        sec = flops / (H100_BF16 * mfu) + args.est_proxies * fixed
        print(f"    {mfu:4.0%}: {sec / 60:6.1f} min (+ {fixed:.0f} s fixed cost per proxy as measured here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
