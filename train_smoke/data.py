"""Training windows from a packed mix, read by memmap, in an order fixed by the seed and resumable exactly.

A mix dir (``corpus-forge pack``) holds ``train-NNNNN.bin`` / ``val-NNNNN.bin`` in llm.c's layout with a
``.idx`` of document starts beside each. A *window* is ``block_size + 1`` consecutive tokens (inputs and
targets shifted by one). The window starts are every ``block_size`` tokens through each shard, or, with
``align_docs``, every ``block_size`` tokens from each document start (each document's first window begins at
its ``<|endoftext|>``). Epoch ``e`` visits all windows once in a permutation drawn from ``(seed, e)``, so
batch ``k`` is a pure function of ``(seed, k)``: resuming at step ``k`` needs the step number only.

A mix dir may be a local path or an fsspec URL (``s3://bucket/mix``): a remote shard is memmapped from a
local copy (:func:`corpus_forge.io.local_file`, downloaded once per version of the file).
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import numpy as np
import torch

from corpus_forge.io import list_dir, path_exists, read_json
from tokenize_bpe.shards import idx_path, open_tokens, read_idx


def shard_files(mix_dir: str | Path, split: str) -> list[str]:
    """The ``{split}-*.bin`` files directly in ``mix_dir`` (local or URL), sorted; none when it is not there."""
    pattern = f"{split}-*.bin"
    return [p for p in list_dir(str(mix_dir)) if fnmatch.fnmatchcase(os.path.basename(p), pattern)]


def mix_shards(mix_dir: str | Path, split: str) -> list[str]:
    """The mix's ``{split}-*.bin`` shards in order (paths spelled as ``mix_dir`` is: local, or URLs)."""
    paths = shard_files(mix_dir, split)
    if not paths:
        raise FileNotFoundError(f"{mix_dir}: no {split}-*.bin shards (is it a packed mix dir?)")
    return paths


def read_manifest(mix_dir: str | Path) -> dict:
    """``manifest.json`` of a mix dir (local or URL), or {} when absent."""
    p = os.path.join(str(mix_dir), "manifest.json")
    return read_json(p) if path_exists(p) else {}


def window_starts(n_tokens: int, block_size: int, doc_starts: np.ndarray | None) -> np.ndarray:
    """Start offsets of the ``block_size + 1``-token windows of one shard (int64, ascending)."""
    last = n_tokens - block_size - 1  # the last start that fits
    if last < 0:
        return np.zeros(0, dtype=np.int64)
    if doc_starts is None or len(doc_starts) == 0:
        return np.arange(0, last + 1, block_size, dtype=np.int64)
    s = np.asarray(doc_starts, dtype=np.int64)
    ends = np.append(s[1:], n_tokens)
    per_doc = -(-(ends - s) // block_size)  # ceil(len / block_size) windows per document
    first = np.repeat(s, per_doc)
    k = np.arange(len(first)) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc)
    starts = first + k * block_size
    return starts[starts <= last]


class TrainBatches:
    """Batches of windows from the train shards: ``batch(k)`` is batch ``k`` of the run for this seed."""

    def __init__(self, mix_dir: str | Path, block_size: int, batch_size: int, seed: int,
                 align_docs: bool = True) -> None:
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        shards = mix_shards(mix_dir, "train")
        self.tokens = [open_tokens(p) for p in shards]
        shard_ids, starts = [], []
        for i, (path, toks) in enumerate(zip(shards, self.tokens, strict=True)):
            docs = read_idx(path) if align_docs and path_exists(str(idx_path(path))) else None
            s = window_starts(len(toks), block_size, docs)
            shard_ids.append(np.full(len(s), i, dtype=np.int32))
            starts.append(s)
        self.shard_of = np.concatenate(shard_ids)
        self.start_of = np.concatenate(starts)
        if len(self.start_of) < batch_size:
            raise ValueError(f"{mix_dir}: {len(self.start_of)} windows of {block_size + 1} tokens, "
                             f"fewer than one batch of {batch_size}")
        self.num_tokens = sum(len(t) for t in self.tokens)
        self._perm_epoch, self._perm = -1, np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        """Windows per epoch."""
        return len(self.start_of)

    def _window(self, k: int) -> tuple[int, int]:
        epoch, i = divmod(k, len(self))
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self))
            self._perm_epoch = epoch
        w = self._perm[i]
        return int(self.shard_of[w]), int(self.start_of[w])

    def batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets (B, T) int64 of batch ``k`` (windows k*B ... k*B + B - 1 of the sequence)."""
        rows = []
        for j in range(k * self.batch_size, (k + 1) * self.batch_size):
            shard, start = self._window(j)
            rows.append(np.asarray(self.tokens[shard][start : start + self.block_size + 1], dtype=np.int64))
        w = torch.from_numpy(np.stack(rows))  # (B, T + 1)
        return w[:, :-1].contiguous(), w[:, 1:].contiguous()


def val_windows(mix_dir: str | Path, block_size: int, max_tokens: int) -> torch.Tensor:
    """Fixed validation windows (N, T + 1): consecutive windows from the start of ``val-*.bin``, up to
    ``max_tokens`` tokens; the same for every run on the mix."""
    rows: list[np.ndarray] = []
    budget = max(1, max_tokens // block_size)
    for p in mix_shards(mix_dir, "val"):
        toks = open_tokens(p)
        for s in window_starts(len(toks), block_size, None)[: budget - len(rows)]:
            rows.append(np.asarray(toks[s : s + block_size + 1], dtype=np.int64))
        if len(rows) >= budget:
            break
    if not rows:
        raise ValueError(f"{mix_dir}: the val shards hold fewer than {block_size + 1} tokens")
    return torch.from_numpy(np.stack(rows))
