"""``mix search`` throughput: proxies per hour on this machine, and the cost of a bigger search, estimated.

    .venv/bin/python bench/search.py                                  # the demo search (make search-demo's)
    .venv/bin/python bench/search.py SEARCH.yaml --workers 2 --out /tmp/bench-search
    .venv/bin/python bench/search.py --from-run demo-out/search      # the figures of a finished search

With ``--from-run`` nothing is run: the phases are read from the folder's files (the pack's seconds from
``sources/stats.json``, the map from the first proxy's start to the last proxy marker ``_parts/proxy-*.json``,
the verification's end at ``verify/stats.json``).

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
from typing import ClassVar

from _common import REPO_ROOT, add_repo_to_path, machine_line

add_repo_to_path()

from corpus_forge.cluster import get_client  # noqa: E402
from corpus_forge.runner import run_stage  # noqa: E402
from train_smoke.search.stage import SearchStage  # noqa: E402

H100_BF16 = 989e12  # dense bf16, H100 SXM data sheet (train_smoke.model.PEAK_BF16_FLOPS)


class TimedSearch(SearchStage):
    """The search with the client-side phase boundaries recorded (prepare's end, finalize's start and end)."""

    marks: ClassVar[dict[str, float]] = {}

    def prepare(self, partitions, run):  # type: ignore[no-untyped-def]
        ctx = super().prepare(partitions, run)
        self.marks["prepared"] = time.perf_counter()
        return ctx

    def finalize(self, run, counters, markers):  # type: ignore[no-untyped-def]
        self.marks["mapped"] = time.perf_counter()
        out = super().finalize(run, counters, markers)
        self.marks["finalized"] = time.perf_counter()
        return out


def run_search(args: argparse.Namespace) -> tuple[SearchStage, str, dict[str, float]]:
    """Run the search into a fresh folder; the client-side phase boundaries (perf_counter seconds)."""
    stage = TimedSearch.from_options(SearchStage.cli_options({}, argparse.Namespace(inputs=[args.search])))
    out = args.out or tempfile.mkdtemp(prefix="bench-search-")
    if Path(out, "_SUCCESS").exists():
        sys.exit(f"{out} holds a finished search: give a fresh --out (or --from-run {out})")
    t0 = time.perf_counter()
    with get_client(workers=args.workers, quiet=True) as client:
        run_stage(stage, [args.search], out, client=client, progress=False)
    if "prepared" not in TimedSearch.marks:
        sys.exit("no proxy ran (the proxies were finished already): give a fresh --out")
    return stage, out, {"start": t0, **TimedSearch.marks}


def finished_search(out: str) -> tuple[SearchStage, str, dict[str, float]]:
    """A finished search's configuration and phase boundaries from its files' modification times."""
    stage = SearchStage.from_options(json.loads(Path(out, "_stage.json").read_text())["config"])
    markers = list(Path(out, "_parts").glob("proxy-*.json"))
    first = min(p.stat().st_mtime - json.loads(p.read_text())["seconds"] for p in markers)  # the first proxy's start
    packed = Path(out, "sources", "stats.json")
    pack_seconds = json.loads(packed.read_text())["seconds"] if packed.exists() else 0.0
    return stage, out, {"start": first - pack_seconds, "prepared": first,
                        "mapped": max(p.stat().st_mtime for p in markers),
            "finalized": Path(out, "verify", "stats.json").stat().st_mtime}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("search", nargs="?", default=str(REPO_ROOT / "pipelines" / "recipes" / "search-demo.yaml"))
    ap.add_argument("--out", default=None, help="output folder (default: a fresh temporary one)")
    ap.add_argument("--from-run", default=None, metavar="DIR", help="read a finished search instead of running one")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--est-proxies", type=int, default=64)
    ap.add_argument("--est-tokens", type=int, default=5_000_000)
    args = ap.parse_args()
    print(machine_line())
    stage, out, m = finished_search(args.from_run) if args.from_run else run_search(args)
    stats = json.loads(Path(out, "stats.json").read_text())
    summaries = [json.loads(p.read_text()) for p in sorted(Path(out, "proxies").glob("*/summary.json"))]
    n = len(summaries)
    proxy_wall = m["mapped"] - m["prepared"]
    tokens = sum(s["tokens_seen"] for s in summaries)
    fixed = statistics.median(s["seconds"] - s["train_seconds"] for s in summaries)
    tps = statistics.median(s["tokens_per_second"] for s in summaries)
    from train_smoke.model import GPT, config_for

    cfg = stage.config
    first = summaries[0]
    fpt = GPT(config_for(cfg.model, first["vocab_size"], first.get("block_size"))).flops_per_token()
    s = stats.get("search", {})
    print(f"search: {n} proxies of `{cfg.model}` ({first['params']:,} parameters), {cfg.tokens:,} tokens each")
    print(f"  pack the sources   {m['prepared'] - m['start']:8.1f} s")
    print(f"  proxies (the map)  {proxy_wall:8.1f} s  -> {3600 * n / proxy_wall:,.1f} proxies per hour; "
          f"{tokens / proxy_wall:,.0f} tokens/s all workers together")
    print(f"  per proxy          median {tps:,.0f} tokens/s training, {fixed:.1f} s set-up + evaluation")
    print(f"  fit + verification {m['finalized'] - m['mapped']:8.1f} s  (verification: "
          f"{s.get('verify_tokens', 0):,.0f} tokens)")
    print(f"  result: {s.get('headline')}")
    est_tokens = args.est_proxies * args.est_tokens
    print(f"estimate, {args.est_proxies} proxies x {args.est_tokens:,} tokens = {est_tokens:,} tokens:")
    hours = args.est_proxies * (args.est_tokens / tps + fixed) / args.workers / 3600
    print(f"  {args.workers} workers like these, at the measured per-proxy rate ({tps:,.0f} tokens/s training "
          f"+ {fixed:.0f} s set-up and evaluation each): {hours:,.1f} h")
    flops = est_tokens * fpt
    print(f"  one H100 (989 TFLOP/s bf16 dense), {fpt:,.0f} training FLOPs per token ({flops:.2e} in all), "
          "ESTIMATED at a model FLOP utilisation of:")
    for mfu in (0.01, 0.03, 0.10):
        print(f"    {mfu:4.0%}: {flops / (H100_BF16 * mfu) / 60:6.1f} min of training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
