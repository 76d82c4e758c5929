"""Zero-shot HellaSwag (Zellers et al. 2019) on the bundled first 500 items of the validation split.

Each ending is scored by its log-likelihood after the context, the context starting with ``<|endoftext|>``
as every training document does. Three accuracies, as lm-eval-harness reports them and as nanoGPT does:

- ``acc``: the ending with the highest summed log-likelihood;
- ``acc_norm``: log-likelihood divided by the ending's length in characters (lm-eval-harness's acc_norm);
- ``acc_token``: the mean log-likelihood per token (nanoGPT's and llm.c's "acc_norm").

A context plus ending longer than ``block_size + 1`` tokens keeps its last ``block_size + 1`` tokens; an ending
that long alone is scored on the tokens that fit.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from train_smoke.evaluate import EVAL_DIR, Autocast, Encode, Model, _no_autocast

HELLASWAG_FILE = EVAL_DIR / "hellaswag_val_500.jsonl.gz"


def hellaswag_items(path: str | Path = HELLASWAG_FILE, limit: int | None = None) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if limit is not None and n >= limit:
                return
            yield json.loads(line)


def item_rows(ctx: list[int], endings: list[list[int]], bos: int,
              block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows (4, W) of ``bos + ctx + ending`` (right-padded) and the mask (4, W - 1) of the positions
    that predict an ending token; each row at most ``block_size + 1`` tokens (the end kept)."""
    rows = []
    for end in endings:
        r = [bos, *ctx, *end][-(block_size + 1):]
        rows.append((r, min(len(end), len(r) - 1)))  # an ending of block_size + 1 tokens or more: what fits
    width = max(len(r) for r, _ in rows)
    x = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width - 1)
    for i, (r, n_end) in enumerate(rows):
        x[i, : len(r)] = torch.tensor(r)
        mask[i, len(r) - 1 - n_end : len(r) - 1] = 1  # positions predicting the ending's tokens
    return x, mask


@torch.no_grad()
def hellaswag_accuracy(model: Model, encode: Encode, bos: int, block_size: int, device: str = "cpu",
                       limit: int | None = None, autocast: Autocast = _no_autocast) -> dict[str, float]:
    """{"acc", "acc_norm", "acc_token"} over the first ``limit`` items (see the module docstring)."""
    right = {"acc": 0, "acc_norm": 0, "acc_token": 0}
    total = 0
    for item in hellaswag_items(limit=limit):
        endings = [" " + e for e in item["endings"]]
        x, mask = item_rows(encode(item["ctx"]), [encode(e) for e in endings], bos, block_size)
        x = x.to(device)
        with autocast():
            logits, _ = model(x[:, :-1])
        nll = F.cross_entropy(logits.float().transpose(1, 2), x[:, 1:], reduction="none").cpu()  # (4, W - 1)
        ll = -(nll * mask).sum(1)
        chars = torch.tensor([len(e) for e in endings], dtype=torch.float32)
        scores = {"acc": ll, "acc_norm": ll / chars, "acc_token": ll / mask.sum(1)}
        for k, v in scores.items():
            right[k] += int(v.argmax().item() == item["label"])
        total += 1
    return {k: v / max(total, 1) for k, v in right.items()}
