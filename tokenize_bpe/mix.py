"""Mix files (what to pack) and the plan of one mix: which documents, how many times, in which order.

A mix file (CONTRACT.md)::

    seed: 0
    shard_tokens: 100000000
    mixes:
      curated:
        tokens: 50000000        # train-token budget; omit: everything, at the weights
        val_fraction: 0.01      # documents held out by id for val-*.bin
        max_epochs: 4           # a small source repeats up to this, then the mix stops short and says so
        sources:
          - {path: out/05-filter, weight: 0.8}
          - {path: books/, weight: 0.2, name: books}

Sources carry ``weight`` (shares of the mix), or ``tokens`` (absolute budgets), or neither (every
document once). The plan (:func:`plan_mix`) is a pure function of the documents' id hashes, their token
counts and the seed, so it is the same for any partitioning of the input or number of workers:

- a document is in the validation split when a draw from its id alone is below ``val_fraction`` (the same
  documents whatever the seed or mix); validation takes every held-out document once;
- each source's training budget is its share of the total; its documents are taken in an order drawn from
  (seed, epoch, id), whole epochs first, then the final partial epoch in order, skipping documents that
  would overshoot the budget; a budget larger than ``max_epochs`` times the source scales the whole mix
  down (weights kept), recorded as ``stopped_short``;
- the selected copies of all sources are interleaved by a draw from (seed, epoch, id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from corpus_forge.config import ConfigError, StageConfig, load_yaml, validate
from corpus_forge.text_sources import source_label
from tokenize_bpe import sample


class SourceSpec(StageConfig):
    """One source of a mix: a stage output directory, or text / JSONL / Parquet files or folders."""

    path: str | list[str] = Field(description="stage output dir, or .txt/.jsonl/.parquet files or folders")
    name: str | None = Field(None, description="name in the manifest (default: the path's last component)")
    weight: float | None = Field(None, gt=0, description="share of the mix (normalised over the sources)")
    tokens: int | None = Field(None, gt=0, description="absolute train-token budget of this source")

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def label(self) -> str:
        return self.name or source_label(self.paths[0])


class MixSpec(StageConfig):
    tokens: int | None = Field(None, gt=0, description="total train-token budget (omit: everything at the weights)")
    val_fraction: float = Field(0.01, ge=0, lt=1, description="share of documents held out by id for val")
    max_epochs: float = Field(4.0, ge=1, description="a source repeats at most this often")
    sources: list[SourceSpec] = Field(min_length=1, description="the sources of the mix and their weights or "
                                                                "budgets")

    @model_validator(mode="after")
    def _budgets(self) -> MixSpec:
        names = [s.label for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"two sources named {dup[0]!r}; give one a 'name:'")
        w = [s.weight is not None for s in self.sources]
        t = [s.tokens is not None for s in self.sources]
        if any(a and b for a, b in zip(w, t, strict=True)):
            raise ValueError("a source has both 'weight' and 'tokens'; give one")
        if (any(w) and not all(w)) or (any(t) and not all(t)):
            raise ValueError("give every source a 'weight' (or every source 'tokens'), or none")
        if all(t) and self.tokens is not None:
            raise ValueError("sources have 'tokens' budgets; omit the mix's total 'tokens'")
        return self


class MixFile(StageConfig):
    seed: int = Field(0, description="seed of the shuffle and of the repeated epochs")
    shard_tokens: int = Field(100_000_000, gt=0, description="tokens per shard (llm.c/nanoGPT use 1e8)")
    mixes: dict[str, MixSpec] = Field(min_length=1, description="name: mix; each is packed into its own folder")
    format: Literal["llmc", "megatron", "nanogpt"] | None = Field(
        None, description="the files pack writes (see pack --format, which overrides this)")

    @model_validator(mode="after")
    def _names(self) -> MixFile:
        for name in self.mixes:
            if not name or "/" in name or name.startswith((".", "_")):
                raise ValueError(f"mix name {name!r}: must be a plain folder name")
        return self


def load_mix(path: str) -> MixFile:
    """Read and validate a mix file; errors name the file and the key (``mixes.web.sorces: unknown key``)."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'mixes:'")
    return validate(MixFile, data, path)


# ---- the plan of one mix ---------------------------------------------------------------------------
@dataclass
class SourceDocs:
    """The tokenized documents of one source: id hashes, token counts (``<|endoftext|>`` included), and
    where each document's tokens are (``file`` index into the pack's token files, ``offset`` in it)."""

    hashes: np.ndarray  # uint64
    lengths: np.ndarray  # int64
    files: np.ndarray  # int32
    offsets: np.ndarray  # int64


@dataclass
class Selection:
    """Documents in the order they are written: source index, document index within its source, epoch."""

    source: np.ndarray
    doc: np.ndarray
    epoch: np.ndarray


def val_mask(hashes: np.ndarray, val_fraction: float) -> np.ndarray:
    return sample.unit(hashes, sample.VAL) < val_fraction


def _take(lengths: np.ndarray, order: np.ndarray, budget: float) -> np.ndarray:
    """Indices (from ``order``) summing close to ``budget``: the prefix, then skip-what-overshoots."""
    cum = np.cumsum(lengths[order])
    n = int(np.searchsorted(cum, budget, side="right"))
    taken = list(order[:n])
    left = budget - (cum[n - 1] if n else 0)
    smallest = lengths.min() if lengths.size else 0
    rest = []
    for i in order[n:]:
        if left < smallest:
            break
        if lengths[i] <= left:
            taken.append(i)
            left -= lengths[i]
        else:
            rest.append(i)
    # one more document if overshooting by it is closer to the budget than stopping short
    over = [i for i in rest if lengths[i] - left < left]
    if over:
        taken.append(min(over, key=lambda i: lengths[i]))
    return np.asarray(taken, dtype=np.int64)


def select_source(lengths: np.ndarray, hashes: np.ndarray, budget: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(document indices, epochs) whose tokens add up to ``budget`` (whole epochs, then a partial one)."""
    avail = float(lengths.sum())
    if avail == 0 or budget <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    full = int(budget // avail)
    docs, epochs = [], []
    for e in range(full):
        docs.append(np.arange(lengths.size))
        epochs.append(np.full(lengths.size, e))
    rest = budget - full * avail
    if rest > 0:
        order = np.argsort(sample.mix64(hashes, seed, sample.TRAIN, full), kind="stable")
        part = _take(lengths, order, rest)
        docs.append(part)
        epochs.append(np.full(part.size, full))
    return np.concatenate(docs).astype(np.int64), np.concatenate(epochs).astype(np.int64)


def budgets(spec: MixSpec, available: list[int]) -> dict[str, Any]:
    """Requested and planned train tokens per source, and whether the mix stops short."""
    avail = np.asarray(available, dtype=np.float64)
    if spec.sources[0].weight is not None:
        w = np.asarray([s.weight for s in spec.sources], dtype=np.float64)
        w = w / w.sum()
        requested = float(spec.tokens) if spec.tokens is not None else float(np.min(np.where(w > 0, avail / w, np.inf)))
    elif spec.sources[0].tokens is not None:
        t = np.asarray([s.tokens for s in spec.sources], dtype=np.float64)
        requested = float(t.sum())
        w = t / requested
    else:  # everything once, at the natural proportions
        requested = float(avail.sum())
        w = avail / max(requested, 1.0)
    cap = avail * spec.max_epochs
    total = requested
    limiting = None
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = np.where(w > 0, cap / w, np.inf)
    if np.min(reach) < requested:
        total = float(np.min(reach))
        limiting = spec.sources[int(np.argmin(reach))].label
    return {"requested_tokens": round(requested), "planned_tokens": round(total), "weights": w,
            "targets": w * total, "stopped_short": limiting is not None, "limiting_source": limiting}


def plan_mix(spec: MixSpec, docs: list[SourceDocs], seed: int) -> dict[str, Any]:
    """The train and val selections of one mix, and the per-source figures for its manifest."""
    val = [val_mask(d.hashes, spec.val_fraction) for d in docs]
    train_len = [d.lengths[~v] for d, v in zip(docs, val, strict=True)]
    b = budgets(spec, [int(x.sum()) for x in train_len])
    srcs, idx, eps = [], [], []
    per_source = []
    for s, (d, v) in enumerate(zip(docs, val, strict=True)):
        train_idx = np.flatnonzero(~v)
        sel, ep = select_source(d.lengths[train_idx], d.hashes[train_idx], float(b["targets"][s]), seed)
        chosen = train_idx[sel]
        srcs.append(np.full(chosen.size, s))
        idx.append(chosen)
        eps.append(ep)
        avail = int(train_len[s].sum())
        taken = int(d.lengths[chosen].sum())
        per_source.append({"available_train_tokens": avail, "available_train_documents": int(train_idx.size),
                           "train_tokens": taken,
                           "train_documents": int(chosen.size),
                           "distinct_train_documents": int(np.unique(sel).size),
                           "epochs": round(taken / avail, 4) if avail else 0.0,
                           "val_tokens": int(d.lengths[v].sum()), "val_documents": int(v.sum())})
    train = _interleave(docs, np.concatenate(srcs), np.concatenate(idx), np.concatenate(eps), seed)
    vs = np.concatenate([np.full(int(v.sum()), s) for s, v in enumerate(val)])
    vi = np.concatenate([np.flatnonzero(v) for v in val])
    val_sel = _interleave(docs, vs, vi, np.zeros(vi.size, np.int64), seed)
    return {"train": train, "val": val_sel, "budgets": b, "sources": per_source}


def _interleave(docs: list[SourceDocs], src: np.ndarray, idx: np.ndarray, ep: np.ndarray, seed: int) -> Selection:
    """Order copies by a draw from (seed, epoch, id); ties (same id and epoch) by source and file position."""
    if src.size == 0:
        z = np.zeros(0, np.int64)
        return Selection(z, z, z)
    h = np.concatenate([docs[s].hashes[idx[src == s]] for s in range(len(docs))])
    order_src = np.concatenate([src[src == s] for s in range(len(docs))])
    order_idx = np.concatenate([idx[src == s] for s in range(len(docs))])
    order_ep = np.concatenate([ep[src == s] for s in range(len(docs))])
    key = sample.mix64(h ^ sample.mix64(order_ep.astype(np.uint64), 7), seed, sample.ORDER)
    files = np.concatenate([docs[s].files[idx[src == s]] for s in range(len(docs))])
    offs = np.concatenate([docs[s].offsets[idx[src == s]] for s in range(len(docs))])
    order = np.lexsort((offs, files, order_src, key))
    return Selection(order_src[order], order_idx[order], order_ep[order])
