"""Evaluation that compares across mixes and tokenizers: bits per byte on fixed texts, val loss, HellaSwag.

Bits per byte of a text: encode it, prepend ``<|endoftext|>`` (every training document starts with one), and
score every token once, in consecutive windows of ``block_size`` (the context restarts at each window):

    bpb = sum over tokens of -ln p(token | context)  /  ln 2  /  UTF-8 bytes of the text

A model that is uniform over 256 byte tokens scores ln 256 / ln 2 = 8.0 on any text (tested). The combined
``val_bpb`` pools the nats and bytes of all texts. The shipped texts are ``eval_texts/*.txt.gz``.

HellaSwag (Zellers et al. 2019), zero-shot: the ending with the lowest mean token loss given the context
wins (``acc_norm`` in the lm-eval-harness sense); items are the bundled first 500 of the validation split.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import torch
import torch.nn.functional as F

from corpus_forge.io import is_dir, local_file, path_exists

EVAL_DIR = Path(__file__).with_name("eval_texts")
HELLASWAG_FILE = EVAL_DIR / "hellaswag_val_500.jsonl.gz"
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
    """(encode, id of ``<|endoftext|>``, vocab size) of a Hugging Face ``tokenizer.json`` (or a dir holding it),
    local or URL."""
    from tokenizers import Tokenizer

    p = str(path)
    if is_dir(p):
        p = os.path.join(p, "tokenizer.json")
    if not path_exists(p):
        raise FileNotFoundError(f"tokenizer not found: {p}")
    tok = Tokenizer.from_file(local_file(p))
    eot = tok.token_to_id(EOT)
    if eot is None:
        eot = tok.get_vocab_size() - 1
    return (lambda s: tok.encode(s, add_special_tokens=False).ids), eot, tok.get_vocab_size()


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


def bits_per_byte(model: Model, encode: Encode, texts: dict[str, str], bos: int, block_size: int,
                  device: str = "cpu", autocast: Autocast = _no_autocast) -> tuple[float, dict[str, float]]:
    """(combined bpb, {name: bpb}) over the evaluation texts."""
    nats, nbytes, per = 0.0, 0, {}
    for name, text in texts.items():
        n = sum_nll(model, encode(text), bos, block_size, device, autocast=autocast)
        b = len(text.encode("utf-8"))
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


def hellaswag_items(path: str | Path = HELLASWAG_FILE, limit: int | None = None) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if limit is not None and n >= limit:
                return
            yield json.loads(line)


@torch.no_grad()
def hellaswag_accuracy(model: Model, encode: Encode, block_size: int, device: str = "cpu",
                       limit: int | None = None, autocast: Autocast = _no_autocast) -> float:
    """Share of items whose gold ending has the lowest mean token loss after the context."""
    right = total = 0
    for item in hellaswag_items(limit=limit):
        ctx = encode(item["ctx"])
        rows = []
        for ending in item["endings"]:
            end = encode(" " + ending)
            rows.append(((ctx + end)[-(block_size + 1):], len(end)))
        width = max(len(r) for r, _ in rows)
        x = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width - 1)
        for i, (r, n_end) in enumerate(rows):
            x[i, : len(r)] = torch.tensor(r)
            mask[i, len(r) - 1 - n_end : len(r) - 1] = 1  # positions predicting the ending's tokens
        x = x.to(device)
        with autocast():
            logits, _ = model(x[:, :-1])
        nll = F.cross_entropy(logits.float().transpose(1, 2), x[:, 1:], reduction="none").cpu()  # (4, W - 1)
        mean = (nll * mask).sum(1) / mask.sum(1)
        right += int(mean.argmin().item() == item["label"])
        total += 1
    return right / max(total, 1)
