"""Training windows from packed mixes, read by memmap, in an order fixed by the seed and resumable exactly.

A mix dir (``corpus-forge pack``) holds ``train-NNNNN.bin`` / ``val-NNNNN.bin`` in llm.c's layout with a
``.idx`` of document starts (and a ``.src`` of each document's source) beside each. A *window* is
``block_size + 1`` consecutive tokens of one shard (inputs and targets shifted by one).

**One epoch trains every train token once.** A shard's windows start at 0 and step ``block_size`` tokens
at a time; with ``align_docs``, a step that has a document start inside it is snapped back to the latest such
start, so windows begin at an ``<|endoftext|>`` wherever a document starts in the step. A snapped window
overlaps its predecessor by less than a document: those targets were trained by the predecessor, so they are
masked (``-100``, ignored by the loss) and are context only. The last window ends at the shard's last token,
and the head of a shard (the tail of a document split from the previous shard) is in its first window. So a
source's share of the tokens trained is its share of the packed tokens, whatever its document lengths:
``tokens_seen_by_source`` counts the trained targets per source exactly from the ``.src`` sidecars (or
estimates them from the manifest's per-shard counts for packs without them).

A run reads from one packed mix (its windows in a permutation per epoch drawn from ``(seed, epoch)``), or from
several packed sources at given weights (``mix search`` proxies: each source's windows in its own epochs, the
run's window sequence interleaved by a permutation drawn from the seed). Window ``j`` of a run is a pure function
of ``(seed, j)``: resuming at step ``k`` needs the step number only. Nothing here touches a global generator.

A mix dir may be a local path or an fsspec URL (``s3://bucket/mix``): a remote shard is memmapped from a
local copy (:func:`corpus_forge.io.local_file`, downloaded once per version of the file).
"""

from __future__ import annotations

import bisect
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpus_forge.io import list_dir, path_exists, read_json
from tokenize_bpe.shards import idx_path, open_tokens, read_idx, read_src

IGNORE = -100  # F.cross_entropy's ignore_index


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


def mix_name(mix_dir: str | Path, manifest: dict[str, Any]) -> str:
    """The mix's name: the manifest's, else the folder's."""
    return manifest.get("mix") or manifest.get("name") or os.path.basename(str(mix_dir).rstrip("/"))


def window_starts(n_tokens: int, block_size: int, doc_starts: np.ndarray | None) -> np.ndarray:
    """Start offsets of the ``block_size + 1``-token windows of one shard (int64, ascending).

    Steps of ``block_size`` from 0; a step with a document start in ``(s, s + block_size]`` goes to the latest
    one instead. The last window ends at the last token. Every token but the last is an input once (or twice,
    where a snapped window overlaps its predecessor).
    """
    last = n_tokens - block_size - 1  # the last start that fits
    if last < 0:
        return np.zeros(0, dtype=np.int64)
    if doc_starts is None or len(doc_starts) == 0:
        starts = np.arange(0, last + 1, block_size, dtype=np.int64)
        return starts if starts[-1] == last else np.append(starts, last)
    docs = np.asarray(doc_starts, dtype=np.int64).tolist()
    out, s = [0], 0
    while s + block_size <= last:
        i = bisect.bisect_right(docs, s + block_size) - 1  # the latest document start <= s + block_size
        s = docs[i] if i >= 0 and docs[i] > s else s + block_size
        out.append(s)
    if out[-1] < last:
        out.append(last)
    return np.asarray(out, dtype=np.int64)


def overlap(starts: np.ndarray, block_size: int) -> np.ndarray:
    """Per window, how many of its first targets its predecessor in the shard already trained (masked)."""
    skip = np.zeros(len(starts), dtype=np.int64)
    if len(starts) > 1:
        skip[1:] = np.maximum(0, starts[:-1] + block_size - starts[1:])
    return skip


def source_counts(n_tokens: int, starts: np.ndarray, skip: np.ndarray, block_size: int, doc_starts: np.ndarray,
                  doc_sources: np.ndarray, head_source: int | None, n_sources: int) -> np.ndarray:
    """Trained targets of each source per window (W, S) int64 (targets ``start + skip + 1 .. start +
    block_size``), from per-document sources."""
    docs = np.asarray(doc_starts, dtype=np.int64)
    bounds, srcs = docs, np.asarray(doc_sources, dtype=np.int64)
    if len(docs) == 0 or docs[0] > 0:  # the head: a document continued from the previous shard
        bounds = np.concatenate([[0], docs])
        srcs = np.concatenate([[-1 if head_source is None else head_source], srcs])
    lengths = np.diff(np.append(bounds, n_tokens))
    cum = np.zeros((len(bounds) + 1, n_sources), dtype=np.int64)  # tokens per source before each segment
    ok = srcs >= 0
    np.add.at(cum[1:], (np.nonzero(ok)[0], srcs[ok]), lengths[ok])
    cum = np.cumsum(cum, axis=0)

    def before(pos: np.ndarray) -> np.ndarray:
        seg = np.searchsorted(bounds, pos, side="right") - 1
        out = cum[seg].copy()
        inside = pos - bounds[seg]
        valid = srcs[seg] >= 0
        out[np.nonzero(valid)[0], srcs[seg][valid]] += inside[valid]
        return out

    return before(starts + block_size + 1) - before(starts + skip + 1)


@dataclass(frozen=True)
class Windows:
    """The train windows of one packed mix: shard and start of each, and its inputs' tokens per source."""

    name: str
    tokens: list[np.ndarray]  # memmapped shards
    shard: np.ndarray  # (W,) int32
    start: np.ndarray  # (W,) int64
    skip: np.ndarray  # (W,) int64: leading targets masked (trained by the previous window)
    by_source: np.ndarray  # (W, S) int64 trained targets per source
    sources: list[str]
    exact: bool  # by_source from .src sidecars (else estimated from the manifest's per-shard counts)

    def __len__(self) -> int:
        return len(self.start)

    @property
    def num_tokens(self) -> int:
        return sum(len(t) for t in self.tokens)


def _shard_entry(manifest: dict[str, Any], path: str) -> dict[str, Any]:
    name = os.path.basename(path)
    return next((s for s in manifest.get("shards", []) if s.get("file") == name), {})


def load_windows(mix_dir: str | Path, block_size: int, align_docs: bool = True,
                 name: str | None = None) -> Windows:
    """Every train window of ``mix_dir`` with its tokens per source (names from the manifest)."""
    manifest = read_manifest(mix_dir)
    name = name or mix_name(mix_dir, manifest)
    sources = [s["name"] for s in manifest.get("sources", [])] or [name]
    shards = mix_shards(mix_dir, "train")
    tokens = [open_tokens(p) for p in shards]
    shard_ids, starts, skips, counts, exact = [], [], [], [], True
    for i, (path, toks) in enumerate(zip(shards, tokens, strict=True)):
        has_idx = path_exists(str(idx_path(path)))
        docs = read_idx(path) if has_idx else np.zeros(0, np.uint64)
        s = window_starts(len(toks), block_size, docs if align_docs else None)
        skip = overlap(s, block_size)
        src = read_src(path) if has_idx else None
        entry = _shard_entry(manifest, path)
        if src is not None and len(src) == len(docs):
            c = source_counts(len(toks), s, skip, block_size, docs, src, entry.get("head_source"), len(sources))
        else:  # no per-document sources: the shard's token shares (or one source), per window
            exact = exact and len(sources) == 1
            per = entry.get("tokens_per_source") or {sources[0]: 1}
            share = np.array([per.get(n, 0) for n in sources], dtype=np.float64)
            c = np.rint(np.outer(block_size - skip, share / share.sum())).astype(np.int64)
        shard_ids.append(np.full(len(s), i, dtype=np.int32))
        starts.append(s)
        skips.append(skip)
        counts.append(c)
    return Windows(name, tokens, np.concatenate(shard_ids), np.concatenate(starts), np.concatenate(skips),
                   np.concatenate(counts).reshape(-1, len(sources)), sources, exact)


def split_counts(weights: list[float], total: int) -> np.ndarray:
    """``total`` split by ``weights`` into whole numbers (largest remainder), summing to ``total``."""
    w = np.asarray(weights, dtype=np.float64)
    raw = w / w.sum() * total
    n = np.floor(raw).astype(np.int64)
    n[np.argsort(-(raw - n), kind="stable")[: total - int(n.sum())]] += 1
    return n


class TrainBatches:
    """Batches of windows: ``batch(k)`` is batch ``k`` of the run for this seed.

    ``pools`` are the packed mixes read from; with one pool, windows come in a permutation per epoch; with
    several, ``weights`` gives each pool's share of the run's ``total`` windows.
    """

    def __init__(self, pools: list[Windows], block_size: int, batch_size: int, seed: int,
                 weights: list[float] | None = None, total: int | None = None) -> None:
        self.pools, self.block_size, self.batch_size, self.seed = pools, block_size, batch_size, seed
        for p in pools:
            if len(p) == 0:
                raise ValueError(f"{p.name}: no window of {block_size + 1} tokens in its train shards")
        self._perms: dict[tuple[int, int], np.ndarray] = {}
        self.pool_of: np.ndarray | None = None
        if len(pools) > 1:
            if weights is None or total is None:
                raise ValueError("several pools need weights and a total number of windows")
            n = split_counts(weights, total)
            labels = np.repeat(np.arange(len(pools), dtype=np.int32), n)
            self.pool_of = labels[np.random.default_rng([seed, 1 << 20]).permutation(total)]
            rank = np.zeros(total, dtype=np.int64)
            for p in range(len(pools)):
                where = np.nonzero(self.pool_of == p)[0]
                rank[where] = np.arange(len(where))
            self.rank = rank
        if len(pools) == 1 and len(pools[0]) < batch_size:
            raise ValueError(f"{pools[0].name}: {len(pools[0])} windows of {block_size + 1} tokens, "
                             f"fewer than one batch of {batch_size}")

    def __len__(self) -> int:
        """Windows per epoch (of all pools)."""
        return sum(len(p) for p in self.pools)

    @property
    def num_tokens(self) -> int:
        return sum(p.num_tokens for p in self.pools)

    def _perm(self, pool: int, epoch: int) -> np.ndarray:
        key = (pool, epoch)
        if key not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[key] = np.random.default_rng([self.seed, pool, epoch]).permutation(len(self.pools[pool]))
        return self._perms[key]

    def window(self, j: int) -> tuple[int, int]:
        """(pool, window index in the pool) of the run's ``j``-th window."""
        if self.pool_of is None:
            pool, i = 0, j
        else:
            pool, i = int(self.pool_of[j]), int(self.rank[j])
        epoch, r = divmod(i, len(self.pools[pool]))
        return pool, int(self._perm(pool, epoch)[r])

    def batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets (B, T) int64 of batch ``k`` (windows k*B ... k*B + B - 1 of the sequence); the
        targets a window shares with its predecessor are -100 (ignored by the loss)."""
        rows, skips = [], []
        for j in range(k * self.batch_size, (k + 1) * self.batch_size):
            pool, w = self.window(j)
            p = self.pools[pool]
            start = int(p.start[w])
            rows.append(np.asarray(p.tokens[int(p.shard[w])][start : start + self.block_size + 1], dtype=np.int64))
            skips.append(int(p.skip[w]))
        t = torch.from_numpy(np.stack(rows))  # (B, T + 1)
        x, y = t[:, :-1].contiguous(), t[:, 1:].clone()
        for i, n in enumerate(skips):
            y[i, :n] = IGNORE
        return x, y

    def tokens_by_source(self, n_windows: int) -> dict[str, int]:
        """Trained targets per source over the run's first ``n_windows`` windows. With one pool: its manifest's
        sources; with several: each pool's name."""
        if self.pool_of is None:
            p = self.pools[0]
            full, rest = divmod(n_windows, len(p))
            total = p.by_source.sum(axis=0) * full
            if rest:
                total = total + p.by_source[self._window_ids(0, full, rest)].sum(axis=0)
            return {s: int(v) for s, v in zip(p.sources, total, strict=True)}
        out = {}
        for i, p in enumerate(self.pools):
            n = int((self.pool_of[:n_windows] == i).sum())
            full, rest = divmod(n, len(p))
            total = int(p.by_source.sum()) * full
            if rest:
                total += int(p.by_source[self._window_ids(i, full, rest)].sum())
            out[p.name] = total
        return out

    def _window_ids(self, pool: int, epoch: int, count: int) -> np.ndarray:
        return self._perm(pool, epoch)[:count]


def val_windows(mix_dir: str | Path, block_size: int, max_tokens: int) -> torch.Tensor:
    """Fixed validation windows (N, T + 1): consecutive windows from the start of ``val-*.bin``, up to
    ``max_tokens`` tokens; the same for every run on the mix."""
    rows: list[np.ndarray] = []
    budget = max(1, max_tokens // block_size)
    for p in mix_shards(mix_dir, "val"):
        toks = open_tokens(p)
        last = len(toks) - block_size - 1
        for s in range(0, last + 1, block_size)[: budget - len(rows)]:
            rows.append(np.asarray(toks[s : s + block_size + 1], dtype=np.int64))
        if len(rows) >= budget:
            break
    if not rows:
        raise ValueError(f"{mix_dir}: the val shards hold fewer than {block_size + 1} tokens")
    return torch.from_numpy(np.stack(rows))


def check_ids(mix_dir: str | Path, vocab_size: int) -> None:
    """Refuse (ValueError naming the shard) a shard holding a token id the model's vocabulary lacks."""
    for split in ("train", "val"):
        for p in shard_files(mix_dir, split):
            toks = open_tokens(p)
            if len(toks) and int(toks.max()) >= vocab_size:
                raise ValueError(f"{p}: token id {int(toks.max())} >= the tokenizer's {vocab_size} ids "
                                 "(packed with another tokenizer? pass the right --tokenizer)")
