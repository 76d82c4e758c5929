"""Train the quality classifier: fastText on reference text (positive) vs raw crawl text (negative).

Documents are read from text files (``.txt``, one document per file, split into chunks), JSON lines
(``.jsonl``, a ``text`` field per line), Parquet files or stage output folders (``text`` column); any of
them may be gzipped. Long documents are cut into chunks of about ``chunk_chars`` on paragraph
boundaries, on both sides alike, so the classifier learns style rather than length. A held-out split
(chosen by a hash of the chunk text, so it is the same on every run) gives precision, recall and
ROC-AUC, written with the hyper-parameters to ``MODEL_DIR/stats.json``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from pydantic import Field

from corpus_forge.config import StageConfig
from corpus_forge.io import atomic_path, file_size, local_file, make_dirs, remove_file, write_json_atomic
from corpus_forge.text_sources import iter_documents
from filters.quality import NEGATIVE, POSITIVE, preprocess
from filters.support.fasttext_backend import import_fasttext, predict


class QualityTrainConfig(StageConfig):
    """Hyper-parameters (fastText's names) and data handling for ``quality train``."""

    epoch: int = Field(10, gt=0, description="training epochs")
    lr: float = Field(0.1, gt=0, description="learning rate")
    wordNgrams: int = Field(2, ge=1, json_schema_extra={"flag": "--word-ngrams"},
                            description="word n-grams (GPT-3 used hashed n-gram features)")
    dim: int = Field(32, gt=0, description="embedding dimension")
    minCount: int = Field(2, ge=1, json_schema_extra={"flag": "--min-count"}, description="minimum word count")
    bucket: int = Field(200_000, ge=0, description="hash buckets for n-grams")
    loss: str = Field("softmax", pattern="^(softmax|ns|hs|ova)$")
    thread: int = Field(1, ge=1, description="1 keeps training deterministic")
    seed: int = 0
    holdout: float = Field(0.2, gt=0, lt=1, description="share of chunks held out for evaluation")
    chunk_chars: int = Field(2000, ge=200, description="documents are cut into chunks of about this size")
    min_chars: int = Field(200, ge=1, description="shorter chunks are ignored")
    max_chunks_per_class: int | None = Field(None, gt=0, description="cap per class (sampled by seed)")
    balance: bool = Field(True, description="subsample the larger class to the smaller one's size")
    quantize: bool = Field(True, description="write a small quantized model.ftz instead of model.bin")
    cutoff: int = Field(50_000, ge=0, description="quantize: keep this many rows of the input matrix")


def read_documents(paths: list[str]) -> list[str]:
    """Texts from files, globs and folders (txt, jsonl, parquet; compressed allowed), by the one text reader."""
    docs = [t for batch in iter_documents(paths) for t in batch.texts if t]
    if not docs:
        raise ValueError(f"no documents with text in {paths}")
    return docs


def chunk_text(text: str, chunk_chars: int, min_chars: int) -> list[str]:
    """Cut a document into pieces of about ``chunk_chars`` on paragraph (else line) boundaries."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paras = [p.strip() for p in text.split("\n\n") if p.strip()]
    if len(paras) <= 1:
        paras = [p.strip() for p in text.split("\n") if p.strip()]
    pieces: list[str] = []
    for p in paras:  # a huge "paragraph" (e.g. a page flattened to one line) is cut at spaces
        while len(p) > 2 * chunk_chars:
            cut = p.rfind(" ", chunk_chars // 2, chunk_chars)
            cut = cut if cut > 0 else chunk_chars
            pieces.append(p[:cut].strip())
            p = p[cut:].strip()
        pieces.append(p)
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    for p in pieces:
        cur.append(p)
        size += len(p)
        if size >= chunk_chars:
            chunks.append("\n".join(cur))
            cur, size = [], 0
    if cur:
        chunks.append("\n".join(cur))
    return [c for c in chunks if len(c) >= min_chars]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula; ties get average ranks."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = np.asarray(scores)[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i: j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _is_heldout(text: str, share: float, seed: int) -> bool:
    h = hashlib.blake2b(f"{seed}:".encode() + text.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2.0**64 < share


def _examples(docs: list[str], cfg: QualityTrainConfig, rng: random.Random) -> list[str]:
    chunks = [c for d in docs for c in chunk_text(d, cfg.chunk_chars, cfg.min_chars)]
    chunks = list(dict.fromkeys(chunks))  # exact duplicates would leak across the split
    if cfg.max_chunks_per_class and len(chunks) > cfg.max_chunks_per_class:
        chunks = rng.sample(chunks, cfg.max_chunks_per_class)
    return chunks


def _fit(train_file: str, hp: dict[str, Any], quant: dict[str, Any] | None, out_path: str) -> float:
    """Train (and quantize) one model and save it; returns the learning rate that converged."""
    fasttext = import_fasttext(training=True)
    hp = dict(hp)
    for _ in range(4):  # fastText diverges (NaN) when lr is too high for the data: halve it and retry
        try:
            model = fasttext.train_supervised(input=train_file, verbose=0, **hp)
            break
        except RuntimeError as err:
            if "NaN" not in str(err):
                raise
            hp["lr"] = hp["lr"] / 2
    else:
        raise ValueError(f"fastText training diverged (NaN) even at lr={hp['lr'] * 2}; lower --lr")
    if quant is not None:
        model.quantize(input=train_file, qnorm=True, retrain=True, verbose=0, **quant)
    model.save_model(out_path)
    return float(hp["lr"])


def train(positive: list[str], negative: list[str], out_dir: str, cfg: QualityTrainConfig | None = None) -> dict:
    """Train, evaluate on the held-out split, write ``out_dir/model.(ftz|bin)`` and ``stats.json``."""
    cfg = cfg or QualityTrainConfig()
    fasttext = import_fasttext(training=True)
    t0 = time.perf_counter()
    rng = random.Random(cfg.seed)
    pos = _examples(read_documents(positive), cfg, rng)
    neg = _examples(read_documents(negative), cfg, rng)
    if cfg.balance:
        n = min(len(pos), len(neg))
        pos = rng.sample(pos, n) if len(pos) > n else pos
        neg = rng.sample(neg, n) if len(neg) > n else neg
    data = [(POSITIVE, t) for t in pos] + [(NEGATIVE, t) for t in neg]
    test = [(lab, t) for lab, t in data if _is_heldout(t, cfg.holdout, cfg.seed)]
    train_set = [(lab, t) for lab, t in data if not _is_heldout(t, cfg.holdout, cfg.seed)]
    if not test or not train_set or len({lab for lab, _ in test}) < 2:
        raise ValueError(f"too little data to train and evaluate: {len(pos)} positive and {len(neg)} "
                         f"negative chunks of >= {cfg.min_chars} characters")
    rng.shuffle(train_set)
    make_dirs(out_dir)
    hp = {k: getattr(cfg, k) for k in ("epoch", "lr", "wordNgrams", "dim", "minCount", "bucket", "loss",
                                       "thread", "seed")}
    with tempfile.TemporaryDirectory() as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            for lab, t in train_set:
                f.write(f"__label__{lab} {preprocess(t)}\n")
        name = "model.ftz" if cfg.quantize else "model.bin"
        model_path = os.path.join(out_dir, name)
        quant = ({"cutoff": cfg.cutoff, "epoch": cfg.epoch, "lr": cfg.lr, "thread": cfg.thread}
                 if cfg.quantize else None)
        # In a fresh process: fastText 0.9.2 training hit "Encountered NaN" when run again in a process
        # that had trained before, whatever the learning rate; a new process each time avoids it.
        with atomic_path(model_path) as tmp_model, \
                ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            hp["lr"] = pool.submit(_fit, train_file, hp, quant, tmp_model).result()
    for stale in ("model.ftz", "model.bin"):
        if stale != name:
            remove_file(os.path.join(out_dir, stale))
    model = fasttext.load_model(local_file(model_path))

    y = np.array([lab == POSITIVE for lab, _ in test])
    labels, probs = predict(model, [preprocess(t) for _, t in test], k=-1)
    s = np.array([next((p for lab, p in zip(ls, ps, strict=True) if lab == POSITIVE), 0.0)
                  for ls, ps in zip(labels, probs, strict=True)])
    pred = s >= 0.5
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    stats = {
        "model": name,
        "labels": [POSITIVE, NEGATIVE],
        "preprocess": "lowercase; \\w+|[^\\w\\s] tokens joined by spaces; first 20,000 characters",
        "positive_sources": positive,
        "negative_sources": negative,
        "chunks": {"positive": len(pos), "negative": len(neg), "train": len(train_set), "heldout": len(test)},
        "heldout": {
            "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
            "accuracy": round(float((pred == y).mean()), 4),
            "roc_auc": round(roc_auc(y, s), 4),
            "threshold": 0.5,
        },
        "hyperparameters": {**hp, "quantize": cfg.quantize, "cutoff": cfg.cutoff if cfg.quantize else None},
        "model_bytes": file_size(model_path),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json_atomic(stats, os.path.join(out_dir, "stats.json"))
    return stats
