"""Pretrain a small GPT on a packed mix: the plain loop, every knob a field of :class:`TrainConfig`.

    get_batch -> forward (bf16 autocast on CUDA) -> backward (x grad_accum) -> clip -> AdamW step -> log

AdamW (fused on CUDA) with decay on matrices only, linear warmup then cosine decay to ``min_lr_ratio * lr``
(GPT-3), gradient clipping at 1.0, ``torch.compile`` on CUDA. ``OUT/ckpt.pt`` (every ``checkpoint_every``
steps and at the end) holds model, optimizer, step and RNG state, and loads with ``weights_only=True``;
``resume`` continues the same loss curve (the data order is a function of (seed, step), see ``data.py``).
Writes ``OUT/metrics.jsonl`` (step, loss, lr, tokens_per_second, mfu; val_loss at evaluation steps) and
``OUT/summary.json`` (see CONTRACT.md).

Every path may be an fsspec URL: ``OUT`` on an object store (``s3://bucket/run``) gets whole objects only
(the checkpoint and summary are uploaded when written; metrics.jsonl, which an object store cannot append to,
is rewritten at every checkpoint and at the end; a local metrics.jsonl grows row by row, for ``tail -f``),
and the shards, tokenizer and evaluation texts may be read from URLs.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from corpus_forge.config import ConfigError
from corpus_forge.io import atomic_write, is_url, make_dirs, path_exists, read_bytes, read_text, write_text_atomic
from train_smoke import evaluate
from train_smoke.config import CURVE_KEYS, DEFAULT_LR, TrainConfig
from train_smoke.data import TrainBatches, read_manifest, val_windows
from train_smoke.model import GPT, config_for, peak_flops

CHECKPOINT = "ckpt.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda requested but torch sees no CUDA device")
    return name


def _url_parent(url: str) -> str | None:
    """``s3://bucket/a/mix`` -> ``s3://bucket/a``; None at the bucket (or host) itself."""
    head = url.rstrip("/").rpartition("/")[0]
    return head if "://" in head and not head.endswith(":/") else None


def find_tokenizer(cfg: TrainConfig, manifest: dict[str, Any]) -> str:
    """``--tokenizer``, else the mix manifest's ``tokenizer`` (absolute or a URL, or relative to the cwd, the
    mix dir or its parent)."""
    tok = cfg.tokenizer or manifest.get("tokenizer")
    if isinstance(tok, dict):
        tok = tok.get("path")
    if not tok:
        raise ConfigError(f"tokenizer: {cfg.shards}/manifest.json names none; pass --tokenizer DIR")
    tok, shards = str(tok), str(cfg.shards)
    cands = [tok]
    if not is_url(tok) and not os.path.isabs(tok):
        if is_url(shards):
            parent = _url_parent(shards)
            cands += [f"{shards.rstrip('/')}/{tok}"] + ([f"{parent}/{tok}"] if parent else [])
        else:
            cands += [str(Path(shards) / tok), str(Path(shards).parent / tok)]
    for p in cands:
        if path_exists(p):
            return p if is_url(p) else str(Path(p))
    raise ConfigError(f"tokenizer: {tok} not found")


def lr_at(step: int, peak: float, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to ``peak``, then cosine decay to ``min_ratio * peak`` at ``total`` (GPT-3)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _save(path: str, state: dict[str, Any]) -> None:
    with atomic_write(path) as f:
        torch.save(state, f)


def _load(path: str, device: str) -> dict[str, Any]:
    """A checkpoint, local or URL (an object is fetched whole: torch seeks all over the file)."""
    src: Any = path if not is_url(path) else io.BytesIO(read_bytes(path))
    return torch.load(src, map_location=device, weights_only=True)


def _metrics_upto(path: str, step: int) -> list[str]:
    """The metrics.jsonl rows up to ``step`` (not those logged after the checkpoint a resumed run starts from)."""
    if not path_exists(path):
        return []
    return [ln for ln in read_text(path).splitlines() if ln.strip() and json.loads(ln)["step"] <= step]


def _write_rows(path: str, rows: list[str]) -> None:
    write_text_atomic(path, "".join(r + "\n" for r in rows))


class _Bar:
    """A rich progress bar over optimizer steps (or nothing)."""

    def __init__(self, enabled: bool, total: int, done: int, label: str) -> None:
        self.progress = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(f"[bold]train[/] {label}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeRemainingColumn())
            self.task = self.progress.add_task("train", total=total, completed=done, info="")
            self.progress.start()

    def update(self, step: int, info: str | None = None) -> None:
        if self.progress is not None:
            kw = {"info": info} if info is not None else {}
            self.progress.update(self.task, completed=step, **kw)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train on ``cfg.shards`` into ``cfg.out``; return the summary (also written to summary.json)."""
    t_start = time.perf_counter()
    out = str(cfg.out)
    remote_out = is_url(out)
    make_dirs(out)
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    use_bf16 = cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device == "cuda")
    if use_bf16 and device == "cpu":
        raise ConfigError("dtype: bfloat16 autocast is for CUDA; use float32 on CPU")
    if device == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in fp32

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()

    # data, tokenizer, evaluation texts
    manifest = read_manifest(cfg.shards)
    tok_path = find_tokenizer(cfg, manifest)
    encode, eot, vocab_size = evaluate.load_tokenizer(tok_path)
    gcfg = config_for(cfg.model, vocab_size, cfg.block_size)
    T = gcfg.block_size
    batches = TrainBatches(cfg.shards, T, cfg.batch_size, cfg.seed, cfg.align_docs)
    val = val_windows(cfg.shards, T, cfg.val_tokens)
    if int(val.max()) >= vocab_size:
        raise ConfigError(f"{cfg.shards}: token id {int(val.max())} >= the tokenizer's {vocab_size} ids "
                          f"({tok_path}); wrong --tokenizer?")
    texts = evaluate.eval_texts(cfg.eval)
    tokens_per_step = cfg.batch_size * T * cfg.grad_accum
    if cfg.max_steps:
        max_steps = cfg.max_steps
    elif cfg.tokens:
        max_steps = max(1, math.ceil(cfg.tokens / tokens_per_step))
    else:
        max_steps = max(1, len(batches) // (cfg.batch_size * cfg.grad_accum))
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, max_steps // 20)
    eval_every = cfg.eval_every or max(1, max_steps // 10)
    peak_lr = cfg.lr or DEFAULT_LR[cfg.model]

    # model and optimizer: the seed alone fixes the initial weights (runs on different mixes pair by seed)
    torch.manual_seed(cfg.seed)
    model = GPT(gcfg).to(device)
    optimizer = model.configure_optimizers(cfg.weight_decay, peak_lr, (cfg.beta1, cfg.beta2),
                                           fused=device == "cuda")
    curve = {k: getattr(cfg, k) for k in CURVE_KEYS} | {"max_steps": max_steps, "vocab_size": vocab_size}
    step, train_seconds = 0, 0.0
    ckpt_path, metrics_path = os.path.join(out, CHECKPOINT), os.path.join(out, METRICS)
    rows: list[str] = []  # metrics.jsonl, kept whole: an object store cannot append
    if cfg.resume and path_exists(ckpt_path):
        ck = _load(ckpt_path, device)
        changed = [k for k in curve if ck["curve"].get(k) != curve[k]]
        if changed:
            was = ", ".join(f"{k}={ck['curve'].get(k)}" for k in changed)
            raise ConfigError(f"resume: {', '.join(changed)} differ from the checkpoint's ({was}); "
                              "use the same options or a new --out")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"])
        if device == "cuda" and "cuda_rng" in ck:
            torch.cuda.set_rng_state(ck["cuda_rng"])
        step, train_seconds = int(ck["step"]), float(ck["train_seconds"])
        rows = _metrics_upto(metrics_path, step)
    _write_rows(metrics_path, rows)
    compile_on = cfg.compile if cfg.compile is not None else device == "cuda"
    fwd = torch.compile(model) if compile_on else model
    flops_per_token = model.flops_per_token()
    peak = peak_flops(torch.cuda.get_device_name()) if device == "cuda" else None

    def save() -> None:
        if remote_out:  # the rows first: a resumed run drops those past the checkpoint, but cannot invent any
            _write_rows(metrics_path, rows)
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                 "train_seconds": train_seconds, "rng": torch.get_rng_state(), "curve": curve,
                 "config": cfg.model_dump(mode="json"), "model_config": vars(gcfg)}
        if device == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state()
        _save(ckpt_path, state)

    def validate() -> float:
        model.eval()
        loss = evaluate.val_loss(model, val, device, autocast=autocast)
        model.train()
        return loss

    mix = manifest.get("mix") or manifest.get("name") or (
        os.path.basename(str(cfg.shards).rstrip("/")) if is_url(cfg.shards) else Path(cfg.shards).resolve().name)
    bar = _Bar(cfg.progress, max_steps, step, f"{mix} seed {cfg.seed}")
    last_val: float | None = None
    t_log, tokens_since = time.perf_counter(), 0
    model.train()
    with contextlib.nullcontext() if remote_out else open(metrics_path, "a") as log:
        while step < max_steps:
            t0 = time.perf_counter()
            lr = lr_at(step, peak_lr, warmup, max_steps, cfg.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                x, y = batches.batch(step * cfg.grad_accum + micro)
                if device == "cuda":  # pinned: the copy overlaps the previous step's kernels
                    x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
                with autocast():
                    _, loss = fwd(x, y)
                (loss / cfg.grad_accum).backward()
                loss_sum += loss.detach()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens_since += tokens_per_step
            is_eval = step % eval_every == 0 or step == max_steps
            if step % cfg.log_every == 0 or is_eval:
                train_loss = loss_sum.item() / cfg.grad_accum  # syncs with the device
                now = time.perf_counter()
                tps = tokens_since / (now - t_log)
                train_seconds += now - t0  # this step, including the wait for the device
                row: dict[str, Any] = {"step": step, "loss": round(train_loss, 6), "lr": lr,
                                       "tokens_per_second": round(tps, 1),
                                       "mfu": round(flops_per_token * tps / peak, 4) if peak else None}
                if is_eval:
                    last_val = validate()
                    row["val_loss"] = round(last_val, 6)
                rows.append(json.dumps(row))
                if log is not None:  # local: the file grows row by row (tail -f)
                    log.write(rows[-1] + "\n")
                    log.flush()
                bar.update(step, f"loss {train_loss:.3f}  {tps:,.0f} tok/s")
                t_log, tokens_since = time.perf_counter(), 0
            else:
                train_seconds += time.perf_counter() - t0
                bar.update(step)
            if step % cfg.checkpoint_every == 0 or step == max_steps:
                save()
    bar.close()

    model.eval()
    val_bpb, eval_bpb = evaluate.bits_per_byte(model, encode, texts, eot, T, device, autocast=autocast)
    hs_on = cfg.hellaswag if cfg.hellaswag is not None else device == "cuda"
    hs = evaluate.hellaswag_accuracy(model, encode, T, device, cfg.hellaswag_items, autocast) if hs_on else None
    summary = {
        "mix": mix, "seed": cfg.seed, "model": cfg.model, "params": model.num_params(), "device": device,
        "val_loss": last_val if last_val is not None else validate(),
        "val_bpb": val_bpb, "eval_bpb": eval_bpb, "hellaswag_acc": hs,
        "tokens_seen": max_steps * tokens_per_step, "steps": max_steps,
        "tokens_per_second": max_steps * tokens_per_step / max(train_seconds, 1e-9),
        "train_seconds": train_seconds, "seconds": time.perf_counter() - t_start,
        "lr": peak_lr, "batch_size": cfg.batch_size, "block_size": T, "grad_accum": cfg.grad_accum,
        "vocab_size": vocab_size, "shards": str(cfg.shards), "tokenizer": str(tok_path),
    }
    if remote_out:
        _write_rows(metrics_path, rows)
    write_text_atomic(os.path.join(out, SUMMARY), json.dumps(summary, indent=2) + "\n")
    return summary
