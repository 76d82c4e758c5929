"""Pretrain a small GPT on a packed mix: the plain loop, every knob a field of :class:`TrainConfig`.

    get_batch -> forward (bf16 autocast on CUDA) -> backward (x grad_accum) -> clip -> AdamW step -> log

AdamW (fused on CUDA) with decay on matrices only, linear warmup then cosine decay to ``min_lr_ratio * lr``
(GPT-3), gradient clipping at 1.0, ``torch.compile`` on CUDA. Set-up (data, tokenizer, model, resume) is in
:mod:`train_smoke.run_setup`; ``OUT/ckpt.pt`` (:mod:`train_smoke.checkpoint`, every ``checkpoint_every`` steps and at
the end) lets ``resume`` continue the same loss curve: the data order is a function of (seed, step), and every
random draw comes from generators the run owns. Writes ``OUT/metrics.jsonl`` (:mod:`train_smoke.metrics_log`:
step, loss, lr, tokens_per_second, mfu; at evaluation steps val_loss and the evaluation texts' bits per byte on
their first ``curve_bytes``) and ``OUT/summary.json`` (CONTRACT.md), with ``tokens_seen_by_source``.

``tokens_per_second`` counts optimizer steps only: the first step under ``torch.compile`` (compile time),
evaluations and checkpoints are timed apart (``compile_seconds``, ``eval_seconds``, ``checkpoint_seconds``).
Every path may be an fsspec URL (``s3://bucket/run``).
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import torch

from corpus_forge.io import write_text_atomic
from train_smoke import evaluate
from train_smoke.checkpoint import CHECKPOINT, save_checkpoint
from train_smoke.config import TrainConfig
from train_smoke.hellaswag import hellaswag_accuracy
from train_smoke.metrics_log import METRICS, MetricsLog
from train_smoke.model import peak_flops
from train_smoke.progress import Bar
from train_smoke.run_setup import Run, setup

SUMMARY = "summary.json"
__all__ = ["CHECKPOINT", "METRICS", "SUMMARY", "lr_at", "train"]


def lr_at(step: int, peak: float, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to ``peak``, then cosine decay to ``min_ratio * peak`` at ``total`` (GPT-3)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class Clock:
    """Seconds and tokens of the optimizer steps, apart from compile, evaluation and checkpoint time."""

    def __init__(self, resumed: dict[str, float] | None) -> None:
        r = resumed or {}
        self.train = float(r.get("train_seconds", 0.0))
        self.tokens = int(r.get("train_tokens", 0))
        self.compile = float(r.get("compile_seconds", 0.0))
        self.eval = float(r.get("eval_seconds", 0.0))
        self.checkpoint = float(r.get("checkpoint_seconds", 0.0))

    def state(self) -> dict[str, float]:
        return {"train_seconds": self.train, "train_tokens": self.tokens, "compile_seconds": self.compile,
                "eval_seconds": self.eval, "checkpoint_seconds": self.checkpoint}

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.train if self.train > 0 else 0.0


def train_step(run: Run, fwd: Any, step: int) -> torch.Tensor:
    """One optimizer step (``grad_accum`` micro-batches); returns the mean loss (on the device)."""
    cfg = run.cfg
    lr = lr_at(step, run.peak_lr, run.warmup, run.max_steps, cfg.min_lr_ratio)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    loss_sum = torch.zeros((), device=run.device)
    for micro in range(cfg.grad_accum):
        x, y = run.batches.batch(step * cfg.grad_accum + micro)
        if run.device == "cuda":  # pinned: the copy overlaps the previous step's kernels
            x, y = x.pin_memory().to("cuda", non_blocking=True), y.pin_memory().to("cuda", non_blocking=True)
        with run.autocast():
            _, loss = fwd(x, y)
        (loss / cfg.grad_accum).backward()
        loss_sum += loss.detach()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return loss_sum / cfg.grad_accum


def evaluate_now(run: Run, curve_texts: dict[str, tuple[list[int], int]]) -> dict[str, Any]:
    """val_loss on the mix's own val split, and bits per byte on the evaluation texts' first curve_bytes."""
    run.model.eval()
    val = evaluate.val_loss(run.model, run.val, run.device, autocast=run.autocast)
    _, per = evaluate.bits_per_byte(run.model, curve_texts, run.eot, run.gcfg.block_size, run.device,
                                    autocast=run.autocast)
    run.model.train()
    return {"val_loss": round(val, 6), "curve_bpb_mean": round(sum(per.values()) / len(per), 6),
            "curve_bpb": {k: round(v, 6) for k, v in per.items()}}


def save(run: Run, clock: Clock, log: MetricsLog) -> None:
    t0 = time.perf_counter()
    log.checkpointed()
    state = {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(), "step": run.step,
             "rng": run.generator.get_state(), "curve": run.curve, "config": run.cfg.model_dump(mode="json"),
             "model_config": vars(run.gcfg), **clock.state()}
    save_checkpoint(os.path.join(run.out, CHECKPOINT), state)
    clock.checkpoint += time.perf_counter() - t0


def loop(run: Run, log: MetricsLog, clock: Clock) -> float | None:
    """Train from ``run.step`` to ``run.max_steps``; returns the last val_loss (None if none was taken)."""
    cfg = run.cfg
    compile_on = cfg.compile if cfg.compile is not None else run.device == "cuda"
    fwd = torch.compile(run.model) if compile_on else run.model
    flops_per_token = run.model.flops_per_token()
    peak = peak_flops(torch.cuda.get_device_name()) if run.device == "cuda" else None
    curve_texts = evaluate.encode_texts(run.encode, run.texts, cfg.curve_bytes)
    bar = Bar(cfg.progress, run.max_steps, run.step, f"{run.mix} seed {cfg.seed}")
    last_val, first = None, True
    window_s, window_tokens = 0.0, 0
    run.model.train()
    while run.step < run.max_steps:
        t0 = time.perf_counter()
        loss = train_step(run, fwd, run.step)
        run.step += 1
        is_eval = run.step % run.eval_every == 0 or run.step == run.max_steps
        is_log = run.step % cfg.log_every == 0 or is_eval
        train_loss = loss.item() if is_log or (first and compile_on) else None  # .item() waits for the device
        dt = time.perf_counter() - t0
        if first and compile_on:  # the first compiled step is mostly compilation
            clock.compile += dt
        else:
            clock.train += dt
            clock.tokens += run.tokens_per_step
            window_s, window_tokens = window_s + dt, window_tokens + run.tokens_per_step
        first = False
        if is_log:
            tps = window_tokens / window_s if window_s > 0 else 0.0
            row: dict[str, Any] = {"step": run.step, "loss": round(train_loss, 6),
                                   "lr": lr_at(run.step - 1, run.peak_lr, run.warmup, run.max_steps, cfg.min_lr_ratio),
                                   "tokens_per_second": round(tps, 1),
                                   "mfu": round(flops_per_token * tps / peak, 4) if peak and tps else None}
            if is_eval:
                t1 = time.perf_counter()
                row.update(evaluate_now(run, curve_texts))
                last_val = row["val_loss"]
                clock.eval += time.perf_counter() - t1
            log.append(row)
            bar.update(run.step, f"loss {train_loss:.3f}  {tps:,.0f} tok/s")
            window_s, window_tokens = 0.0, 0
        else:
            bar.update(run.step)
        if run.step % cfg.checkpoint_every == 0 or run.step == run.max_steps:
            save(run, clock, log)
    bar.close()
    return last_val


def summarize(run: Run, clock: Clock, last_val: float | None) -> dict[str, Any]:
    """The final evaluation (whole texts, HellaSwag) and summary.json's fields."""
    cfg, t1 = run.cfg, time.perf_counter()
    run.model.eval()
    encoded = evaluate.encode_texts(run.encode, run.texts)
    val_bpb, eval_bpb = evaluate.bits_per_byte(run.model, encoded, run.eot, run.gcfg.block_size, run.device,
                                               autocast=run.autocast)
    hs_on = cfg.hellaswag if cfg.hellaswag is not None else run.device == "cuda"
    hs = hellaswag_accuracy(run.model, run.encode, run.eot, run.gcfg.block_size, run.device,
                            cfg.hellaswag_items, run.autocast) if hs_on else None
    if last_val is None:
        last_val = evaluate.val_loss(run.model, run.val, run.device, autocast=run.autocast)
    clock.eval += time.perf_counter() - t1
    n_windows = run.max_steps * cfg.batch_size * cfg.grad_accum
    by_source = run.batches.tokens_by_source(n_windows)
    seen = sum(by_source.values())
    peak = peak_flops(torch.cuda.get_device_name()) if run.device == "cuda" else None
    tps = clock.tokens_per_second
    return {
        "mix": run.mix, "seed": cfg.seed, "model": cfg.model, "params": run.model.num_params(),
        "device": run.device, "device_name": torch.cuda.get_device_name() if run.device == "cuda" else "cpu",
        "val_loss": last_val, "val_bpb": val_bpb, "eval_bpb": eval_bpb,
        "bpb_mean": sum(eval_bpb.values()) / len(eval_bpb),
        "hellaswag_acc": hs["acc"] if hs else None, "hellaswag_acc_norm": hs["acc_norm"] if hs else None,
        "hellaswag_acc_token": hs["acc_token"] if hs else None,
        "tokens_seen": seen, "window_tokens": run.max_steps * run.tokens_per_step, "tokens_seen_by_source": by_source,
        "source_shares": {k: round(v / seen, 6) if seen else 0.0 for k, v in by_source.items()},
        "packed_shares": packed_shares(run), "tokens_by_source_exact": all(p.exact for p in run.batches.pools),
        "epochs": round(n_windows / max(1, len(run.batches)), 4) if run.batches.pool_of is None else None,
        "steps": run.max_steps, "tokens_per_second": tps, "mfu": run.model.flops_per_token() * tps / peak if peak
        else None, "train_seconds": clock.train, "compile_seconds": clock.compile, "eval_seconds": clock.eval,
        "checkpoint_seconds": clock.checkpoint, "lr": run.peak_lr, "batch_size": cfg.batch_size,
        "block_size": run.gcfg.block_size, "grad_accum": cfg.grad_accum, "vocab_size": run.gcfg.vocab_size,
        "tokenizer_vocab_size": run.vocab_size,
        "shards": str(cfg.shards) if cfg.shards else dict(run.mix_dirs), "weights": cfg.weights,
        "tokenizer": str(run.tokenizer),
    }


def packed_shares(run: Run) -> dict[str, float] | None:
    """What the run was asked to train: the manifest's achieved weights (one mix) or the given weights."""
    if run.cfg.weights:
        return dict(run.cfg.weights)
    sources = next(iter(run.manifests.values())).get("sources", [])
    return {s["name"]: s["achieved_weight"] for s in sources if "achieved_weight" in s} or None


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train on ``cfg.shards`` (or ``cfg.sources`` at ``cfg.weights``) into ``cfg.out``; return the summary
    (also written to summary.json)."""
    t_start = time.perf_counter()
    run = setup(cfg)
    clock = Clock(run.resumed_from)
    log = MetricsLog(os.path.join(run.out, METRICS))
    log.resume_at(run.step)
    try:
        last_val = loop(run, log, clock)
    finally:
        log.close()
    summary = summarize(run, clock, last_val) | {"seconds": time.perf_counter() - t_start}
    write_text_atomic(os.path.join(run.out, SUMMARY), json.dumps(summary, indent=2) + "\n")
    return summary
