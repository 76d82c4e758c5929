"""The filter shape (after datatrove's): a name, paper defaults, keep or drop with a short reason.

Two kinds:
- :class:`DocumentFilter` sees a batch of documents (a pyarrow table) and returns, per row, keep or a
  drop reason, plus columns it adds to every row (e.g. ``lang``, ``lang_score``).
- :class:`UrlFilter` sees only a URL, so the extract stage can apply it to a WARC record's target URI
  before any HTML is parsed (pushdown). Every ``UrlFilter`` also works as a document filter on ``url``.

Filters are registered by type name with :func:`register_filter` and built from recipe specs
(``{"type": "gopher_quality", ...options}``) by :func:`build_filter`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from corpus_forge.config import ConfigError


@dataclass
class FilterResult:
    """Per row: ``keep[i]``; where not kept, ``reasons[i]`` says why. ``columns`` cover every row."""

    keep: np.ndarray
    reasons: list[str | None]
    columns: dict[str, pa.Array | list[Any]] = field(default_factory=dict)


class DocumentFilter:
    """Base class. ``name`` is the registry key and the prefix of every drop reason (``name:reason``).

    ``adds_columns`` declares the type of each column the filter adds, so an all-null column still gets
    its type (e.g. ``{"karma": pa.int64()}``).
    """

    name: ClassVar[str] = "filter"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {}

    def drop_reason(self, short: str | None) -> str:
        """The one place a drop reason is named: ``<filter>:<reason>``."""
        return f"{self.name}:{short or 'dropped'}"

    def filter_table(self, table: pa.Table) -> FilterResult:
        raise NotImplementedError


class UrlFilter(DocumentFilter):
    """A filter that needs only the URL: usable before extraction (pushdown) and after it.

    ``url_decision`` gives a short reason: the extract stage counts it as a record reason (``low_karma``,
    like its other record reasons); as a document filter it is ``<filter>:<reason>`` (``karma:low_karma``).
    """

    def url_decision(self, url: str | None) -> tuple[str | None, dict[str, Any]]:
        """Return (drop reason or None, extra column values for the document, e.g. ``{"karma": 12}``)."""
        raise NotImplementedError

    def filter_table(self, table: pa.Table) -> FilterResult:
        urls = table.column("url").to_pylist() if "url" in table.column_names else [None] * table.num_rows
        reasons: list[str | None] = []
        extra: dict[str, list[Any]] = {}
        for i, u in enumerate(urls):
            reason, cols = self.url_decision(u)
            reasons.append(self.drop_reason(reason) if reason else None)
            for k, v in cols.items():
                extra.setdefault(k, [None] * i).append(v)
            for k in extra:
                if len(extra[k]) < i + 1:
                    extra[k].append(None)
        keep = np.array([r is None for r in reasons], dtype=bool)
        return FilterResult(keep, reasons, extra)


_REGISTRY: dict[str, type[DocumentFilter]] = {}

# Modules that register filters; imported on first lookup so heavy dependencies load only when used.
FILTER_MODULES: tuple[str, ...] = (
    "filters.langid",
    "filters.heuristics",
    "filters.quality",
    "filters.url_filters",
)


def register_filter(type_name: str):
    """Class decorator: make a filter buildable from ``{"type": type_name, ...}``."""

    def deco(cls: type[DocumentFilter]) -> type[DocumentFilter]:
        _REGISTRY[type_name] = cls
        return cls

    return deco


def _load_all() -> None:
    for mod in FILTER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise


def available_filters() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def build_filter(spec: dict[str, Any], where: str = "filter") -> DocumentFilter:
    """Build a filter from a recipe spec ``{"type": NAME, **options}`` (or ``{"datatrove": module.Class,
    **kwargs}``: a datatrove step, :mod:`filters.datatrove_step`); errors name the bad key."""
    if isinstance(spec, dict) and "datatrove" in spec:
        if "type" in spec:
            raise ConfigError(f"{where}: give 'type' (ours) or 'datatrove' (a datatrove step), not both")
        from filters.datatrove_step import build_datatrove_step

        return build_datatrove_step(spec, where)
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"{where}: each filter needs a 'type' key (one of {available_filters()})")
    _load_all()
    opts = {k: v for k, v in spec.items() if k != "type"}
    cls = _REGISTRY.get(spec["type"])
    if cls is None:
        raise ConfigError(f"{where}.type: unknown filter {spec['type']!r} (one of {sorted(_REGISTRY)})")
    try:
        return cls(**opts)
    except TypeError as err:
        raise ConfigError(f"{where} ({spec['type']}): {err}") from None
