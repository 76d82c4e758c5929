"""Our trainer (``train_smoke.pretrain.train``) vs a plain nanoGPT-style loop, same model, data and batch.

    .venv/bin/python bench/train.py                       # CPU: tiny model, block 128, batch 8 (~1 minute)
    .venv/bin/python bench/train.py --device cuda         # GPU: gpt2-124m at block 1024, bf16, compiled
    .venv/bin/python bench/train.py --shards DIR/<mix>    # a packed mix of one's own (corpus-forge pack)

Data: without ``--shards``, real text from ``../shared/data`` (NLTK Gutenberg books, WikiText-2 is left out:
it is an evaluation text) is tokenised with a byte-level BPE trained on it (``--vocab`` ids) and packed into
llm.c shards under ``--work``. Both sides then train the same :class:`train_smoke.model.GPT` from the same
seed for ``--steps`` optimizer steps:

- ours: ``train(TrainConfig(...))``, the real command (windows by memmap, warmup + cosine, clipping,
  fused AdamW / bf16 autocast / torch.compile on CUDA, metrics.jsonl, checkpoint at the end);
- reference: nanoGPT's ``train.py`` loop written out here: ``get_batch`` with random offsets into a
  ``np.memmap``, ``torch.autocast``, backward, ``clip_grad_norm_``, ``optimizer.step``, ``loss.item()``.

Throughput is tokens per second over each ``--log-every``-step interval, the first ``--skip`` intervals left
out (warm-up, compilation); per repeat the median interval, then the median over ``--repeats`` interleaved
repeats (the side that goes first alternates). Prints both sides, the ratio ours / reference (target >= 1.0)
and, on CUDA, MFU against the device's bf16 peak (``train_smoke.model.PEAK_BF16_FLOPS``; llm.c reaches ~41%
on an H100, nanoGPT ~33%).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, add_repo_to_path, machine_line

add_repo_to_path()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tokenize_bpe.shards import open_tokens, version_for_vocab, write_shard  # noqa: E402
from train_smoke.config import DEFAULT_LR, TrainConfig  # noqa: E402
from train_smoke.model import GPT, config_for, peak_flops  # noqa: E402
from train_smoke.pretrain import lr_at, train  # noqa: E402

EOT = "<|endoftext|>"


def build_mix(work: Path, vocab: int, max_bytes: int) -> Path:
    """Gutenberg books from ../shared/data, a BPE of ``vocab`` ids trained on them, packed as one mix."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    mix = work / f"mix-v{vocab}-{max_bytes}"
    if (mix / "train-00000.bin").exists():
        return mix
    books = sorted((SHARED_DATA / "text" / "gutenberg_nltk").glob("*.txt.gz"))
    if not books:
        sys.exit(f"no books under {SHARED_DATA}/text/gutenberg_nltk; pass --shards DIR")
    docs, total = [], 0
    for path in books:
        lines = gzip.open(path, "rt", encoding="utf-8").read().splitlines()
        for i in range(0, len(lines), 40):  # documents of 40 lines (a sentence per line in these files)
            docs.append("\n".join(lines[i : i + 40]))
            total += len(docs[-1])
        if total >= max_bytes:
            break
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=vocab - 1, show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([EOT])
    mix.mkdir(parents=True, exist_ok=True)
    tok.save(str(mix / "tokenizer.json"))
    eot = tok.token_to_id(EOT)
    n = tok.get_vocab_size()
    for split, part in (("train", docs[: -len(docs) // 50]), ("val", docs[-len(docs) // 50 :])):
        ids = [[eot, *e.ids] for e in tok.encode_batch(part, add_special_tokens=False)]
        starts = np.cumsum([0] + [len(x) for x in ids[:-1]])
        write_shard(mix / f"{split}-00000.bin", np.concatenate(ids), starts, version_for_vocab(n))
    (mix / "manifest.json").write_text(json.dumps({"name": "bench", "tokenizer": str(mix / "tokenizer.json")}))
    return mix


def ours(args: argparse.Namespace, mix: Path, out: Path) -> list[float]:
    """Tokens/s per logged interval of the real trainer."""
    cfg = TrainConfig(shards=str(mix), out=str(out), model=args.model, block_size=args.block_size,
                      batch_size=args.batch_size, max_steps=args.steps, device=args.device, seed=0,
                      log_every=args.log_every, eval_every=args.steps, checkpoint_every=args.steps,
                      val_tokens=args.block_size * 4, eval=[str(args.eval_text)], hellaswag=False,
                      progress=False)
    train(cfg)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["tokens_per_second"] for r in rows]


def reference(args: argparse.Namespace, mix: Path, vocab: int) -> list[float]:
    """nanoGPT's loop, written out: tokens/s per ``log_every`` steps."""
    device, B, T = args.device, args.batch_size, args.block_size
    data = open_tokens(sorted(mix.glob("train-*.bin"))[0])
    torch.manual_seed(0)
    model = GPT(config_for(args.model, vocab, T)).to(device)
    lr = DEFAULT_LR[args.model]
    optimizer = model.configure_optimizers(0.1, lr, (0.9, 0.95), fused=device == "cuda")
    fwd = torch.compile(model) if device == "cuda" else model
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data) - T - 1, (B,))
        x = torch.stack([torch.from_numpy(data[i : i + T].astype(np.int64)) for i in ix.tolist()])
        y = torch.stack([torch.from_numpy(data[i + 1 : i + 1 + T].astype(np.int64)) for i in ix.tolist()])
        if device == "cuda":
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x, y

    rates, t0 = [], time.perf_counter()
    x, y = get_batch()
    for it in range(args.steps):
        for g in optimizer.param_groups:
            g["lr"] = lr_at(it, lr, max(1, args.steps // 20), args.steps, 0.1)
        with ctx:
            _, loss = fwd(x, y)
        x, y = get_batch()  # prefetch while the GPU works (nanoGPT)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (it + 1) % args.log_every == 0:
            loss.item()  # syncs
            now = time.perf_counter()
            rates.append(args.log_every * B * T / (now - t0))
            t0 = now
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--model", default=None, help="size (default: tiny on CPU, gpt2-124m on CUDA)")
    p.add_argument("--block-size", type=int, default=None, help="default: 128 on CPU, 1024 on CUDA")
    p.add_argument("--batch-size", type=int, default=None, help="default: 8 on CPU, 32 on CUDA")
    p.add_argument("--steps", type=int, default=None, help="steps per side and repeat (default: 80 CPU, 60 CUDA)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--skip", type=int, default=1, help="first intervals left out (default 1; 2 on CUDA)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--vocab", type=int, default=None, help="BPE ids for the built mix (default: 4096 CPU, 32768 CUDA)")
    p.add_argument("--shards", default=None, help="a packed mix dir instead of the built one")
    p.add_argument("--work", default="/tmp/cf_bench/train")
    args = p.parse_args()
    cuda = args.device == "cuda"
    args.model = args.model or ("gpt2-124m" if cuda else "tiny")
    args.block_size = args.block_size or (1024 if cuda else 128)
    args.batch_size = args.batch_size or (32 if cuda else 8)
    args.steps = args.steps or (60 if cuda else 80)
    args.skip = max(args.skip, 2) if cuda else args.skip
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    mix = Path(args.shards) if args.shards else build_mix(work, args.vocab or (32768 if cuda else 4096), 6_000_000)
    tok_file = mix / "tokenizer.json"
    if not tok_file.exists():
        tok_file = Path(json.loads((mix / "manifest.json").read_text())["tokenizer"])
        tok_file = tok_file / "tokenizer.json" if tok_file.is_dir() else tok_file
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tok_file)).get_vocab_size()
    args.eval_text = work / "eval_head.txt"  # ours evaluates once at the end (outside the timed intervals)
    args.eval_text.write_text("It is a truth universally acknowledged, that a single man in possession "
                              "of a good fortune must be in want of a wife.\n" * 20)
    print(machine_line())
    print(f"model {args.model} (vocab {vocab}), block {args.block_size}, batch {args.batch_size}, {args.steps} steps, "
          f"device {args.device}, torch threads {torch.get_num_threads()}, mix {mix}")
    res: dict[str, list[float]] = {"ours": [], "reference": []}
    for r in range(args.repeats):
        for side in ("ours", "reference") if r % 2 == 0 else ("reference", "ours"):  # alternate who goes first
            if side == "ours":
                with tempfile.TemporaryDirectory(dir=work) as tmp:
                    rates = ours(args, mix, Path(tmp))
            else:
                rates = reference(args, mix, vocab)
            res[side].append(statistics.median(rates[args.skip :]))
        print(f"  repeat {r + 1}: ours {res['ours'][-1]:,.0f} tok/s, reference {res['reference'][-1]:,.0f} tok/s")
    o, ref = statistics.median(res["ours"]), statistics.median(res["reference"])
    print(f"median tokens/s: ours {o:,.0f}, reference {ref:,.0f}, ratio {o / ref:.2f}x (target >= 1.0)")
    if cuda:
        model = GPT(config_for(args.model, vocab, args.block_size))
        peak = peak_flops(torch.cuda.get_device_name())
        fpt = model.flops_per_token()
        name = torch.cuda.get_device_name()
        if peak:
            print(f"MFU on {name}: ours {fpt * o / peak:.1%}, reference {fpt * ref / peak:.1%} "
                  f"({model.num_params() / 1e6:.1f}M params, {fpt / 1e9:.2f} GFLOP/token, "
                  f"peak {peak / 1e12:.0f} TFLOP/s)")
        else:
            print(f"MFU: unknown peak for {name}; {fpt * o / 1e12:.1f} TFLOP/s achieved")
    if math.isnan(o):
        sys.exit(1)


if __name__ == "__main__":
    main()
