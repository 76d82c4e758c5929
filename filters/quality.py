"""A fastText quality classifier as a filter: GPT-3's reference-vs-crawl classifier and its Pareto rule.

Adds ``quality_score`` = P(reference-like) to every document and keeps documents by one of:

- ``threshold``: keep if ``quality_score >= threshold``;
- ``top_fraction``: keep the best-scoring ``fraction`` of the whole corpus (ties broken by id): a corpus-level
  filter, so the filter step scores every document first and then cuts at one global rank (run by
  ``pipelines.filter``; called on one table alone, the table is the corpus);
- ``pareto`` (GPT-3, Brown et al. 2020, appendix A): keep if ``np.random.pareto(alpha) > 1 - score``,
  alpha = 9. A Lomax(alpha) draw exceeds ``x`` with probability ``(1 + x)^-alpha``, so a document is kept
  with probability ``(2 - score)^-alpha``; we draw that with a uniform number derived from
  ``(seed, id)``, so every rerun, partitioning and worker count keeps the same documents.

Models come from ``corpus-forge quality train`` (a folder with ``model.bin``/``model.ftz`` and
``stats.json``) or are the shipped demo (``filters/models/quality_demo.ftz``).
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpus_forge.config import StageConfig, validate
from corpus_forge.io import is_dir, path_exists, read_json
from filters.base import DocumentFilter, FilterResult, register_filter
from filters.support.fasttext_backend import load_model, predict

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
DEMO_MODEL = os.path.join(MODELS_DIR, "quality_demo.ftz")
POSITIVE, NEGATIVE = "positive", "negative"

_TOKEN = re.compile(r"\w+|[^\w\s]")


def preprocess(text: str, max_chars: int = 20_000) -> str:
    """The text fastText sees, in training and in filtering alike: lowercased, punctuation split off."""
    return " ".join(_TOKEN.findall(text[:max_chars].lower()))


def resolve_model(path: str | None) -> tuple[str, dict[str, Any]]:
    """(model file, its stats) for a model folder, a model file, or None (the shipped demo)."""
    path = path or DEMO_MODEL
    if is_dir(path):
        for name in ("model.ftz", "model.bin"):
            if path_exists(os.path.join(path, name)):
                model_file, stats_file = os.path.join(path, name), os.path.join(path, "stats.json")
                break
        else:
            raise FileNotFoundError(f"{path} holds no model.ftz or model.bin (train one with "
                                    "`corpus-forge quality train`)")
    else:
        if not path_exists(path):
            raise FileNotFoundError(f"quality model not found: {path}")
        model_file = path
        stats_file = os.path.splitext(path)[0] + ".json"
        if not path_exists(stats_file):
            stats_file = os.path.join(os.path.dirname(path), "stats.json")
    stats: dict[str, Any] = read_json(stats_file) if path_exists(stats_file) else {}
    return model_file, stats


def doc_uniform(doc_ids: list[str], seed: int) -> np.ndarray:
    """One uniform number in [0, 1) per document id, the same on every run and worker."""
    out = np.empty(len(doc_ids), dtype=np.float64)
    salt = f"{seed}:".encode()
    for i, d in enumerate(doc_ids):
        h = hashlib.blake2b(salt + str(d).encode("utf-8", "surrogatepass"), digest_size=8).digest()
        out[i] = (int.from_bytes(h, "little") >> 11) * 2.0**-53
    return out


def pareto_keep(scores: np.ndarray, uniforms: np.ndarray, alpha: float) -> np.ndarray:
    """GPT-3's rule ``pareto(alpha) > 1 - score`` with the draw given as a uniform: P(keep) = (2-s)^-alpha."""
    return uniforms < np.power(2.0 - np.clip(scores, 0.0, 1.0), -alpha)


class QualityConfig(StageConfig):
    """Options of the ``quality`` filter."""

    model: str | None = Field(None, description="model folder or file from `quality train`; default: demo")
    mode: Literal["threshold", "top_fraction", "pareto"] = Field(
        "pareto", description="pareto: keep when np.random.pareto(alpha) > 1 - score (GPT-3's rule); threshold: "
                              "keep score >= threshold; top_fraction: the best fraction of the whole corpus")
    threshold: float = Field(0.5, ge=0, le=1, description="threshold mode: keep if score >= this")
    fraction: float = Field(0.5, gt=0, le=1, description="top_fraction mode: share of the corpus kept")
    alpha: float = Field(9.0, gt=0, description="pareto mode: GPT-3's alpha")
    seed: int = Field(0, description="pareto mode: seeds the per-document draw")
    label: str = Field(POSITIVE, description="the model's label whose probability is the score")
    max_chars: int = Field(20_000, gt=0, description="score only the first characters of long documents")


#: scores are stored with 5 decimals: one bin per possible value, 0.00000 … 1.00000
SCORE_BINS = 100_001


def score_bin(scores: np.ndarray) -> np.ndarray:
    """The bin of each stored score (monotonic: a higher bin always means a higher score)."""
    return np.clip(np.rint(np.asarray(scores, dtype=np.float64) * (SCORE_BINS - 1)), 0, SCORE_BINS - 1).astype(np.int64)


@register_filter("quality")
class QualityClassifierFilter(DocumentFilter):
    """Score with the fastText classifier; reasons ``quality:below_threshold|not_top_fraction|pareto``."""

    name: ClassVar[str] = "quality"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {"quality_score": pa.float32()}

    def __init__(self, **options: Any) -> None:
        self.config = validate(QualityConfig, options, "filters.quality")
        self.model_file, self.model_stats = resolve_model(self.config.model)

    @property
    def corpus_level(self) -> bool:
        """True when the decision needs every document's score first (``top_fraction``)."""
        return self.config.mode == "top_fraction"

    def score_table(self, table: pa.Table) -> FilterResult:
        """Scores only, nothing dropped (the first pass of a corpus-level cut)."""
        s = self.scores(table.column("text").to_pylist()) if table.num_rows else np.zeros(0)
        return FilterResult(np.ones(table.num_rows, dtype=bool), [None] * table.num_rows,
                            {"quality_score": pa.array(np.round(s, 5), type=pa.float32())})

    def corpus_cut(self, scores: np.ndarray, ids: list[str]) -> tuple[float, str] | None:
        """The (score, id) of the last document kept when the best ``fraction`` of all of them is kept."""
        n_keep = round(self.config.fraction * len(ids))
        if n_keep == 0:
            return None
        order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), str(ids[i])))
        last = order[n_keep - 1]
        return float(scores[last]), str(ids[last])

    def cut_bin(self, histogram: np.ndarray) -> tuple[int, int] | None:
        """Where the cut of :meth:`corpus_cut` falls, from the histogram of every score's :func:`score_bin`:
        (bin, rank of the last kept document within that bin, from 1). None when nothing is kept."""
        n_keep = round(self.config.fraction * int(histogram.sum()))
        if n_keep == 0:
            return None
        from_top = np.cumsum(histogram[::-1])
        i = int(np.searchsorted(from_top, n_keep))  # the first bin from the top where n_keep is reached
        b = len(histogram) - 1 - i
        return b, n_keep - int(from_top[i] - histogram[b])

    def apply_cut(self, table: pa.Table, cut: tuple[float, str] | None) -> FilterResult:
        """Keep rows ranked at or before ``cut`` by (-quality_score, id); the scores are already there."""
        s = table.column("quality_score").to_numpy(zero_copy_only=False).astype(np.float64)
        ids = [str(i) for i in table.column("id").to_pylist()]
        if cut is None:
            keep = np.zeros(len(ids), dtype=bool)
        else:
            keep = np.array([(-x, i) <= (-cut[0], cut[1]) for x, i in zip(s, ids, strict=True)], dtype=bool)
        return FilterResult(keep, [None if k else self.drop_reason("not_top_fraction") for k in keep])

    def scores(self, texts: list[str]) -> np.ndarray:
        model = load_model(self.model_file)
        prep = [preprocess(t or "", self.config.max_chars) for t in texts]
        labels, probs = predict(model, prep, k=-1)
        want = self.config.label
        out = np.zeros(len(texts), dtype=np.float64)
        for i, (ls, ps) in enumerate(zip(labels, probs, strict=True)):
            out[i] = next((p for lab, p in zip(ls, ps, strict=True) if lab == want), 0.0)
        return out

    def filter_table(self, table: pa.Table) -> FilterResult:
        texts = table.column("text").to_pylist()
        n = len(texts)
        s = self.scores(texts) if n else np.zeros(0)
        cfg = self.config
        if cfg.mode == "threshold":
            keep, why = s >= cfg.threshold, self.drop_reason("below_threshold")
        elif cfg.mode == "top_fraction":  # this table alone is the corpus
            s = np.round(s, 5).astype(np.float32).astype(np.float64)  # the cut compares the stored scores
            ids = [str(i) for i in table.column("id").to_pylist()]
            cut = self.corpus_cut(s, ids)
            scored = pa.table({"id": ids, "quality_score": pa.array(s, type=pa.float32())})
            keep = self.apply_cut(scored, cut).keep
            why = self.drop_reason("not_top_fraction")
        else:
            ids = table.column("id").to_pylist()
            keep, why = pareto_keep(s, doc_uniform(ids, cfg.seed), cfg.alpha), self.drop_reason("pareto")
        reasons: list[str | None] = [None if k else why for k in keep]
        return FilterResult(np.asarray(keep, dtype=bool), reasons,
                            {"quality_score": pa.array(np.round(s, 5), type=pa.float32())})
