"""Everything a training run needs before its first step, from its :class:`TrainConfig`: the device, the
data (windows of one packed mix, or of several packed sources at weights), the tokenizer (pack's encoder) and
evaluation texts, the model and optimizer, the schedule, and a checkpoint to resume from."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from corpus_forge.config import ConfigError
from corpus_forge.io import is_url, make_dirs, path_exists
from train_smoke import evaluate
from train_smoke.checkpoint import CHECKPOINT, data_identity, load_checkpoint
from train_smoke.config import CURVE_KEYS, DEFAULT_LR, TrainConfig
from train_smoke.data import TrainBatches, Windows, check_ids, load_windows, mix_name, read_manifest, val_windows
from train_smoke.model import GPT, GPTConfig, config_for


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


def find_tokenizer(given: str | None, shards: str, manifest: dict[str, Any]) -> str:
    """``--tokenizer``, else the mix manifest's ``tokenizer`` (absolute or a URL, or relative to the cwd, the
    mix dir or its parent)."""
    tok = given or manifest.get("tokenizer")
    if isinstance(tok, dict):
        tok = tok.get("path")
    if not tok:
        raise ConfigError(f"tokenizer: {shards}/manifest.json names none; pass --tokenizer DIR")
    tok = str(tok)
    cands = [tok]
    if not is_url(tok) and not os.path.isabs(tok):
        if is_url(shards):
            parent = _url_parent(shards)
            cands += [f"{shards.rstrip('/')}/{tok}"] + ([f"{parent}/{tok}"] if parent else [])
        else:
            cands += [str(Path(shards) / tok), str(Path(shards).parent / tok)]
    for p in cands:
        if path_exists(p):
            p = p if is_url(p) else str(Path(p))
            return os.path.dirname(p) if p.endswith(".json") else p
    raise ConfigError(f"tokenizer: {tok} not found")


@dataclass
class Run:
    """A run set up: what the loop and the summary read."""

    cfg: TrainConfig
    out: str
    device: str
    use_bf16: bool
    mix: str
    mix_dirs: dict[str, str]
    manifests: dict[str, dict[str, Any]]
    tokenizer: str
    encode: evaluate.Encode
    eot: int
    vocab_size: int
    gcfg: GPTConfig
    batches: TrainBatches
    val: torch.Tensor
    texts: dict[str, str]
    model: GPT
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    max_steps: int
    warmup: int
    eval_every: int
    peak_lr: float
    curve: dict[str, Any]
    step: int = 0
    resumed_from: dict[str, Any] | None = None

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_size * self.gcfg.block_size * self.cfg.grad_accum

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.use_bf16 else contextlib.nullcontext()


def _data(cfg: TrainConfig) -> tuple[str, dict[str, str], dict[str, dict[str, Any]]]:
    """(run's mix name, {pool name: mix dir}, {pool name: manifest})."""
    if cfg.sources is not None:
        dirs = dict(cfg.sources)
        manifests = {n: read_manifest(d) for n, d in dirs.items()}
        return "+".join(dirs), dirs, manifests
    manifest = read_manifest(cfg.shards)
    name = mix_name(cfg.shards, manifest) if is_url(cfg.shards) else (
        manifest.get("mix") or manifest.get("name") or Path(cfg.shards).resolve().name)
    return name, {name: str(cfg.shards)}, {name: manifest}


def _steps(cfg: TrainConfig, windows_per_epoch: int, tokens_per_step: int) -> int:
    if cfg.max_steps:
        return cfg.max_steps
    if cfg.tokens:
        return max(1, math.ceil(cfg.tokens / tokens_per_step))
    return max(1, windows_per_epoch // (cfg.batch_size * cfg.grad_accum))


def setup(cfg: TrainConfig) -> Run:
    """Build the run (resumed from ``OUT/ckpt.pt`` when ``cfg.resume`` and it exists)."""
    out = str(cfg.out)
    make_dirs(out)
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    use_bf16 = cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device == "cuda")
    if use_bf16 and device == "cpu":
        raise ConfigError("dtype: bfloat16 autocast is for CUDA; use float32 on CPU")
    if device == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in fp32

    mix, dirs, manifests = _data(cfg)
    first = next(iter(dirs))
    tok = find_tokenizer(cfg.tokenizer, dirs[first], manifests[first])
    encode, eot, vocab_size = evaluate.load_tokenizer(tok)
    if cfg.vocab_size is not None and cfg.vocab_size < vocab_size:
        raise ConfigError(f"vocab_size: {cfg.vocab_size} is below the tokenizer's {vocab_size} ids")
    gcfg = config_for(cfg.model, cfg.vocab_size or vocab_size, cfg.block_size)
    T = gcfg.block_size
    for d in dirs.values():  # an out-of-range id is a device-side assert on CUDA: refuse it here
        try:
            check_ids(d, vocab_size)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    pools: list[Windows] = [load_windows(d, T, cfg.align_docs, name=(n if cfg.sources else None))
                            for n, d in dirs.items()]
    tokens_per_step = cfg.batch_size * T * cfg.grad_accum
    max_steps = _steps(cfg, sum(len(p) for p in pools), tokens_per_step)
    weights = [cfg.weights[n] for n in dirs] if cfg.weights else None
    batches = TrainBatches(pools, T, cfg.batch_size, cfg.seed, weights,
                           total=max_steps * cfg.batch_size * cfg.grad_accum)
    if weights:  # each source's val split in proportion to its weight
        parts = [val_windows(d, T, max(T, round(cfg.val_tokens * w))) for d, w in zip(dirs.values(), weights,
                                                                                     strict=True) if w > 0]
        val = torch.cat(parts)
    else:
        val = val_windows(dirs[first], T, cfg.val_tokens)

    gen = torch.Generator().manual_seed(cfg.seed)  # the run's own: nothing reads torch's global generator
    model = GPT(gcfg, seed=cfg.seed).to(device)
    peak_lr = cfg.lr or DEFAULT_LR[cfg.model]
    optimizer = model.configure_optimizers(cfg.weight_decay, peak_lr, (cfg.beta1, cfg.beta2),
                                           fused=device == "cuda")
    curve = {k: getattr(cfg, k) for k in CURVE_KEYS} | {"max_steps": max_steps, "vocab_size": gcfg.vocab_size}
    run = Run(cfg=cfg, out=out, device=device, use_bf16=use_bf16, mix=mix, mix_dirs=dirs, manifests=manifests,
              tokenizer=tok, encode=encode, eot=eot, vocab_size=vocab_size, gcfg=gcfg, batches=batches, val=val,
              texts=evaluate.eval_texts(cfg.eval), model=model, optimizer=optimizer, generator=gen,
              max_steps=max_steps,
              warmup=cfg.warmup_steps if cfg.warmup_steps is not None else max(1, max_steps // 20),
              eval_every=cfg.eval_every or max(1, max_steps // 10), peak_lr=peak_lr, curve=curve)
    run.curve["data"] = data_identity(dirs, tok)
    ckpt = os.path.join(out, CHECKPOINT)
    if cfg.resume and path_exists(ckpt):
        resume(run, load_checkpoint(ckpt, device))
    return run


def resume(run: Run, ck: dict[str, Any]) -> None:
    """Continue from a checkpoint of the same run: the same curve options and the same data, else refuse."""
    saved = ck["curve"]
    if "data" in saved and saved["data"] != run.curve["data"]:
        raise ConfigError(f"resume: {run.out}/{CHECKPOINT} was trained on other shards or another tokenizer "
                          "(manifest or tokenizer.json sha256 differ); use a new --out")
    changed = [k for k in run.curve if k != "data" and saved.get(k) != run.curve[k]]
    if changed:
        was = ", ".join(f"{k}={saved.get(k)}" for k in changed)
        raise ConfigError(f"resume: {', '.join(changed)} differ from the checkpoint's ({was}); "
                          "use the same options or a new --out")
    run.model.load_state_dict(ck["model"])
    run.optimizer.load_state_dict(ck["optimizer"])
    run.generator.set_state(ck["rng"])
    run.step = int(ck["step"])
    run.resumed_from = {k: ck.get(k, 0.0) for k in ("train_seconds", "train_tokens", "compile_seconds",
                                                    "eval_seconds", "checkpoint_seconds")}
