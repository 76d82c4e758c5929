"""Checkpoints: ``OUT/ckpt.pt`` holds model, optimizer, step, timings and the run's generator state, and
loads with ``torch.load(..., weights_only=True)``.

Everything loads on the CPU first; model and optimizer tensors then move to the run's device, while generator
states stay CPU ``ByteTensor``s (``torch.Generator.set_state`` takes nothing else: loading them straight onto
CUDA is what made every resumed GPU run crash). A checkpoint also records what it was trained on (the mix
manifests' and the tokenizer's sha256), so a resume onto changed data is refused instead of continuing a curve
on other tokens.
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch

from corpus_forge.io import atomic_write, is_url, list_dir, path_exists, read_bytes

CHECKPOINT = "ckpt.pt"
CPU_KEYS = ("rng",)  # generator states: CPU ByteTensors whatever the device


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    with atomic_write(path) as f:
        torch.save(state, f)


def _to(obj: Any, device: str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


def load_checkpoint(path: str, device: str) -> dict[str, Any]:
    """A checkpoint (local or URL; an object is fetched whole: torch seeks all over the file), its model and
    optimizer tensors on ``device`` and its generator states on the CPU."""
    src: Any = path if not is_url(path) else io.BytesIO(read_bytes(path))
    state = torch.load(src, map_location="cpu", weights_only=True)
    return {k: (v if k in CPU_KEYS else _to(v, device)) for k, v in state.items()}


def data_identity(mix_dirs: dict[str, str], tokenizer: str) -> dict[str, Any]:
    """sha256 of each mix's manifest (else its shard names and sizes) and of ``tokenizer.json``."""
    from corpus_forge.io import file_size
    from tokenize_bpe.shards import file_sha256

    def mix(d: str) -> Any:
        manifest = os.path.join(d, "manifest.json")
        if path_exists(manifest):
            return file_sha256(manifest)
        return sorted((os.path.basename(p), file_size(p)) for p in list_dir(d) if p.endswith(".bin"))

    tok = tokenizer if tokenizer.endswith(".json") else os.path.join(tokenizer, "tokenizer.json")
    return {"mixes": {name: mix(d) for name, d in sorted(mix_dirs.items())},
            "tokenizer": file_sha256(tok) if path_exists(tok) else None}
