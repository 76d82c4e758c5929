"""The trainer on a GPU, in one prepared run (issue #20): throughput and MFU of ``gpt2-124m`` at sequence 1024
with ``torch.compile`` + bf16 against llm.c's anchor, a killed run resumed on the same curve, and a 2 mixes x
2 seeds ablation, all on the device. The same logic runs on the CPU with the tiny model (``--device cpu``),
as CI does (tests/train_smoke/test_gpu_check.py).

    bash bench/gpu_check.sh                 # on an H100 / H200: at most ~8 minutes
    bash bench/gpu_check.sh --device cpu    # the CPU rehearsal (about a minute)

Data: the bundled public-domain books (samples/books, tests/data/train_smoke), a 4,096-token BPE trained on
them, packed into two mixes. For the throughput run the embedding is padded to 50,304 rows (GPT-2's vocabulary,
as nanoGPT pads it), so the model has GPT-2 small's 124M parameters and FLOPs. llm.c's anchor for GPT-2 124M on
one H100 (bf16, sequence 1024): about 475k tokens/s, about 41% MFU (our goal: at least 400k and 40%).
Prints one line per check and ``gpu_check: N passed, M failed``; exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "corpus_forge.cli"]
ANCHOR_TPS, ANCHOR_MFU = 475_000, 0.41
QUICK = False  # --quick: the CPU rehearsal at its smallest (the CI test)
GOAL_TPS, GOAL_MFU = 400_000, 0.40
BOOKS = [*sorted((ROOT / "samples" / "books").glob("*.txt.gz")),
         *sorted((ROOT / "tests" / "data" / "train_smoke").glob("*.txt.gz"))]


def sh(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=ROOT, check=True, capture_output=True, text=True, **kw)


def prepare(work: Path) -> tuple[Path, Path]:
    """A BPE on the books and two packed mixes of them: (tokenizer dir, pack dir)."""
    import gzip

    texts = work / "texts"
    for sub in ("a", "b"):
        (texts / sub).mkdir(parents=True, exist_ok=True)
    for i, book in enumerate(BOOKS):  # each book cut into ~40-line documents, alternate books to mix a / b
        lines = gzip.open(book, "rt", encoding="utf-8").read().splitlines()
        with open(texts / "ab"[i % 2] / f"{book.name.removesuffix('.txt.gz')}.jsonl", "w") as f:
            for k in range(0, len(lines), 40):
                f.write(json.dumps({"id": f"{book.name}-{k}", "text": "\n".join(lines[k:k + 40])}) + "\n")
    sh("bpe", str(texts), "--out", str(work / "bpe"), "--vocab-size", "4096")
    mix = work / "mix.yaml"
    mix.write_text(json.dumps({"seed": 0, "shard_tokens": 50_000, "mixes": {
        name: {"val_fraction": 0.05, "sources": [{"path": str(texts / name), "name": f"books_{name}"}]}
        for name in ("a", "b")}}))
    sh("pack", "--tokenizer", str(work / "bpe"), "--mix", str(mix), "--out", str(work / "pack"))
    return work / "bpe", work / "pack"


class Checks:
    def __init__(self) -> None:
        self.passed = self.failed = 0

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.passed, self.failed = self.passed + ok, self.failed + (not ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


def eval_flags(work: Path, device: str) -> list[str]:
    """The shipped evaluation texts on CUDA; on the CPU their first 4 kB (scoring them whole takes minutes)."""
    if device == "cuda":
        return []
    from train_smoke.evaluate import EVAL_DIR, read_text

    head = work / "eval_head.txt"
    head.write_text(read_text(EVAL_DIR / "pride_and_prejudice.txt.gz")[:4000])
    return ["--eval", str(head), "--curve-bytes", "1024", "--val-tokens", "2048"]


def throughput(checks: Checks, pack: Path, work: Path, device: str, steps: int) -> None:
    gpu = device == "cuda"
    flags = (["--model", "gpt2-124m", "--vocab-size", "50304", "--batch-size", "16", "--compile",
              "--dtype", "bfloat16"] if gpu else ["--model", "tiny", "--batch-size", "8", "--no-compile",
                                                  *eval_flags(work, device)])
    out = work / "throughput"
    sh("train", "--shards", str(pack / "a"), "--out", str(out), "--max-steps", str(steps), "--device", device,
       "--eval-every", str(steps), "--log-every", "10", "--no-progress", *flags)
    s = json.loads((out / "summary.json").read_text())
    tps, mfu = s["tokens_per_second"], s.get("mfu")
    detail = (f"{s['model']} ({s['params'] / 1e6:.1f}M params, vocab {s['vocab_size']}), {s['device_name']}: "
              f"{tps:,.0f} tokens/s, MFU {mfu:.1%} " if mfu is not None else
              f"{s['model']} on {s['device_name']}: {tps:,.0f} tokens/s, MFU n/a ")
    detail += (f"(llm.c anchor {ANCHOR_TPS:,} tokens/s, {ANCHOR_MFU:.0%}; goal >= {GOAL_TPS:,} and {GOAL_MFU:.0%}); "
               f"compile {s['compile_seconds']:.1f} s, eval {s['eval_seconds']:.1f} s apart")
    ok = tps > 0 and (not gpu or (mfu is not None and tps >= GOAL_TPS and mfu >= GOAL_MFU))
    checks.check("throughput", ok, detail)


def resume(checks: Checks, pack: Path, work: Path, device: str) -> None:
    """Kill a run after its first checkpoint, resume it, and compare its curve with a straight run's."""
    model = ["--model", "mini", "--batch-size", "8"] if device == "cuda" else ["--model", "tiny", "--batch-size", "4",
                                                                                "--block-size", "64"]
    steps, every = (12, 4) if QUICK else (60, 20)
    flags = ["--shards", str(pack / "a"), "--max-steps", str(steps), "--checkpoint-every", str(every),
             "--log-every", "2" if QUICK else "5",
             "--device", device, "--seed", "3", "--no-progress", *model, *eval_flags(work, device)]
    killed, straight = work / "killed", work / "straight"
    proc = subprocess.Popen([*CLI, "train", "--out", str(killed), *flags], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    while not (killed / "ckpt.pt").exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    died = not (killed / "summary.json").exists()
    sh("train", "--out", str(killed), *flags, "--resume")
    sh("train", "--out", str(straight), *flags)

    def curve(run: Path) -> list[tuple[int, float]]:
        return [(r["step"], r["loss"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]

    a, b = curve(killed), curve(straight)
    same_steps = [s for s, _ in a] == [s for s, _ in b]
    diff = max((abs(x - y) for (_, x), (_, y) in zip(a, b, strict=False)), default=float("inf"))
    # CPU kernels are deterministic: equal to the bit. On CUDA some backward kernels add atomically: the
    # straight run itself would differ run to run by about this much.
    tol = 0.0 if device == "cpu" else 0.02
    checks.check("resume", died and same_steps and diff <= tol,
                 f"killed after its first checkpoint ({'died midway' if died else 'had finished!'}), resumed: "
                 f"{len(a)} logged steps, largest loss difference from a straight run {diff:.2e} (allowed {tol})")


def ablation(checks: Checks, pack: Path, work: Path, device: str) -> None:
    out = work / "ablation"
    spec = work / "ablation.json"
    cpu = {"val_tokens": 2048, "curve_bytes": 1024} if device == "cpu" else {}
    evals = eval_flags(work, device)
    spec.write_text(json.dumps({"mixes": {"a": str(pack / "a"), "b": str(pack / "b")}, "seeds": [0, 1],
                                "model": "mini" if device == "cuda" else "tiny",
                                "tokens": 200_000 if device == "cuda" else (2_000 if QUICK else 8_000),
                                "eval": evals[1:2] or None,
                                "train": {"device": device, "block_size": 128, "batch_size": 8, **cpu}}))
    yaml_spec = work / "ablation.yaml"
    yaml_spec.write_text(spec.read_text())  # JSON is YAML
    sh("ablate", str(yaml_spec), "--out", str(out), "--workers", "2")
    rows = (out / "results.csv").read_text().splitlines()
    summaries = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/summary.json"))]
    on_device = all(s["device"] == device for s in summaries)
    shares = all(abs(sum(s["source_shares"].values()) - 1) < 1e-6 for s in summaries)
    checks.check("ablation", len(rows) == 5 and on_device and shares,
                 f"2 mixes x 2 seeds on {device}: {len(rows) - 1} runs; best "
                 f"{json.loads((out / 'stats.json').read_text())['ablation']['best']} (results.md)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "cf_gpu_check")
    ap.add_argument("--steps", type=int, default=None, help="steps of the throughput run (60 on CUDA, 20 on CPU)")
    ap.add_argument("--quick", action="store_true", help="the smallest runs that still check each step (CI)")
    args = ap.parse_args(argv)
    global QUICK
    QUICK = args.quick
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: torch sees no CUDA device (run with --device cpu for the CPU rehearsal)")
            return 2
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    t0 = time.perf_counter()
    _, pack = prepare(args.work)
    checks = Checks()
    for fn in (lambda: throughput(checks, pack, args.work, args.device, args.steps or (60 if args.device ==
                                                                                      "cuda" else 6 if QUICK else 20)),
               lambda: resume(checks, pack, args.work, args.device),
               lambda: ablation(checks, pack, args.work, args.device)):
        try:
            fn()
        except subprocess.CalledProcessError as err:
            checks.check("step", False, f"{' '.join(err.cmd[3:5])} failed: {err.stderr.strip()[-600:]}")
    print(f"gpu_check: {checks.passed} passed, {checks.failed} failed ({time.perf_counter() - t0:.0f} s)")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
