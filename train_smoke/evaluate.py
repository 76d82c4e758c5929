"""Evaluation that compares across mixes and tokenizers: bits per byte on fixed texts, val loss, HellaSwag.

Bits per byte of a text: encode it, prepend ``<|endoftext|>`` (every training document starts with one), and
score every token once, in consecutive windows of ``block_size`` (the context restarts at each window):

    bpb = sum over tokens of -ln p(token | context)  /  ln 2  /  UTF-8 bytes of the text

A model that is uniform over 256 byte tokens scores ln 256 / ln 2 = 8.0 on any text (tested). The combined
``val_bpb`` pools the nats and bytes of all texts. The shipped texts are ``eval_texts/*.txt.gz``.

Texts are encoded by the same encoder as ``pack`` (:func:`tokenize_bpe.encode.load_encoder`): a literal
``<|endoftext|>`` inside an evaluation text is text, as it is inside a training document. HellaSwag is in
:mod:`train_smoke.hellaswag`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import fsspec
import torch
import torch.nn.functional as F

from corpus_forge.io import is_dir, path_exists

EVAL_DIR = Path(__file__).with_name("eval_texts")
EOT = "<|endoftext|>"

Model = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]  # idx (B, T) -> logits (B, T, V), _
Encode = Callable[[str], list[int]]
Autocast = Callable[[], contextlib.AbstractContextManager]


def text_name(path: str | Path) -> str:
    """``wikitext2_test.txt.gz`` -> ``wikitext2_test`` (the file stem without .gz / .txt; local or URL)."""
    name = os.path.basename(str(path).rstrip("/"))
    for suffix in (".gz", ".txt"):
        name = name.removesuffix(suffix)
    return name


def read_text(path: str | Path) -> str:
    """A UTF-8 text file (gzipped when its name ends in ``.gz``), local or URL, with universal newlines."""
    p = str(path)
    with fsspec.open(p, "rt", encoding="utf-8", compression="gzip" if p.endswith(".gz") else None) as f:
        return f.read()


def eval_texts(paths: list[str] | None = None) -> dict[str, str]:
    """{name: text} of the given files (local or URLs), or of the shipped ``eval_texts/*.txt.gz`` when none
    are given."""
    files = [str(p) for p in paths] if paths else [str(p) for p in sorted(EVAL_DIR.glob("*.txt.gz"))]
    texts = {text_name(p): read_text(p) for p in files}
    if len(texts) != len(files):
        raise ValueError(f"evaluation texts with the same name: {files}")
    return texts


def load_tokenizer(path: str | Path) -> tuple[Encode, int, int]:
    """(encode, id of ``<|endoftext|>``, vocab size) of a tokenizer folder (or its ``tokenizer.json``), local or
    URL, through pack's encoder: the ids pack wrote for the same text."""
    from tokenize_bpe.encode import load_encoder

    p = str(path).rstrip("/")
    if p.endswith(".json"):
        p = os.path.dirname(p) or "."
    if not is_dir(p) or not path_exists(os.path.join(p, "tokenizer.json")):
        raise FileNotFoundError(f"tokenizer not found: {path} (a corpus-forge bpe --out folder)")
    enc = load_encoder(p)
    return (lambda s: enc.encode_batch([s])[0]), enc.eot, enc.vocab_size


def _no_autocast() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


@torch.no_grad()
def sum_nll(model: Model, ids: list[int], bos: int, block_size: int, device: str = "cpu",
            batch_size: int = 16, autocast: Autocast = _no_autocast) -> float:
    """Sum over ``ids`` of -ln p(token | preceding tokens in its window), with ``bos`` before the first."""
    seq = torch.tensor([bos, *ids], dtype=torch.long)
    n = len(ids)
    full, rest = divmod(n, block_size)
    total = 0.0

    def score(x: torch.Tensor, y: torch.Tensor) -> float:
        with autocast():
            logits, _ = model(x.to(device))
        return F.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum").item()

    if full:
        windows = seq[: full * block_size + 1].unfold(0, block_size + 1, block_size)  # (full, T + 1)
        for i in range(0, full, batch_size):
            w = windows[i : i + batch_size]
            total += score(w[:, :-1], w[:, 1:])
    if rest:
        w = seq[full * block_size :].unsqueeze(0)  # (1, rest + 1)
        total += score(w[:, :-1], w[:, 1:])
    return total


def encode_texts(encode: Encode, texts: dict[str, str],
                 max_bytes: int | None = None) -> dict[str, tuple[list[int], int]]:
    """{name: (ids, UTF-8 bytes)} of each text, or of its first ``max_bytes`` bytes (cut at a character)."""
    out = {}
    for name, text in texts.items():
        if max_bytes is not None:
            text = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
        out[name] = (encode(text), len(text.encode("utf-8")))
    return out


def bits_per_byte(model: Model, encoded: dict[str, tuple[list[int], int]], bos: int, block_size: int,
                  device: str = "cpu", autocast: Autocast = _no_autocast) -> tuple[float, dict[str, float]]:
    """(combined bpb, {name: bpb}) over the encoded evaluation texts (:func:`encode_texts`)."""
    nats, nbytes, per = 0.0, 0, {}
    for name, (ids, b) in encoded.items():
        n = sum_nll(model, ids, bos, block_size, device, autocast=autocast)
        per[name] = n / math.log(2) / b
        nats, nbytes = nats + n, nbytes + b
    return nats / math.log(2) / nbytes, per


@torch.no_grad()
def val_loss(model: Model, windows: torch.Tensor, device: str = "cpu", batch_size: int = 16,
             autocast: Autocast = _no_autocast) -> float:
    """Mean next-token loss over fixed validation windows (N, T + 1)."""
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        w = windows[i : i + batch_size].to(device)
        with autocast():
            logits, _ = model(w[:, :-1])
        total += F.cross_entropy(logits.float().flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item()
        count += w[:, 1:].numel()
    return total / count
