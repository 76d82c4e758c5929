"""Any datatrove pipeline step (filter, formatter, enricher) as a corpus-forge filter.

In ``filter``'s list (and a recipe)::

    - {datatrove: datatrove.pipeline.filters.RegexFilter, regex_exp: "lorem ipsum"}
    - {datatrove: datatrove.pipeline.formatters.PIIFormatter}
    - {datatrove: datatrove.pipeline.filters.FastTextClassifierFilter, model_url: model.ftz,
       keep_labels: [positive, 0.5]}

``datatrove:`` names the step's class (any importable ``datatrove.pipeline.base.PipelineStep`` subclass, your own
too); every other key is a keyword argument of its constructor. Our documents become ``datatrove.data.Document``
(``id``, ``text``, and every other column in ``metadata``, so ``url`` is where datatrove's URL filters look).

- A ``BaseFilter`` is called through ``filter_batch`` on the whole batch (vectorised where the step implements
  it, as datatrove's own ``run`` does for ``batch_size > 1``); a drop counts as ``datatrove:<Class>:<reason>``,
  the reason being the step's own (``(False, "gopher_short_doc")``) or ``dropped``.
- Any other step (a formatter, an enricher) runs through its ``run`` generator: the documents it yields are kept
  (with the text it rewrote), those it does not yield count as ``datatrove:<Class>:dropped``.
- Metadata keys the step adds become columns (values that are not one Arrow type are stored as JSON text).

The step is built once per worker process (the filter chain is cached), like datatrove builds it once per task.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import numpy as np
import pyarrow as pa

from corpus_forge.config import ConfigError
from filters.base import DocumentFilter, FilterResult

SPEC_KEY = "datatrove"
DOC_FIELDS = ("id", "text")


def step_class(path: str, where: str) -> type:
    """Import ``package.module.Class`` and check it is a datatrove pipeline step."""
    from datatrove.pipeline.base import PipelineStep

    module, _, name = str(path).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name) if module else None
    except ImportError as err:
        raise ConfigError(f"{where}.datatrove: cannot import {path!r} ({err})") from None
    except AttributeError:
        cls = None
    if cls is None:
        raise ConfigError(f"{where}.datatrove: {path!r} is not a module.Class path")
    if not (isinstance(cls, type) and issubclass(cls, PipelineStep)):
        raise ConfigError(f"{where}.datatrove: {path} is not a datatrove PipelineStep")
    return cls


class DatatroveStep(DocumentFilter):
    """One datatrove step run on our batches; its name in drop reasons is ``datatrove:<Class>``."""

    def __init__(self, path: str, where: str = "filter", **kwargs: Any) -> None:
        cls = step_class(path, where)
        try:
            self.step = cls(**kwargs)
        except TypeError as err:
            raise ConfigError(f"{where} ({cls.__name__}): {err}") from None
        self.name = f"datatrove:{cls.__name__}"  # type: ignore[misc]  # the instance's name, in every reason
        from datatrove.pipeline.filters.base_filter import BaseFilter

        self.is_filter = isinstance(self.step, BaseFilter)

    def filter_table(self, table: pa.Table) -> FilterResult:
        from datatrove.data import Document

        cols = table.to_pydict()
        meta_cols = [c for c in table.column_names if c not in DOC_FIELDS]
        docs = [Document(text=cols["text"][i] or "", id=str(cols["id"][i]),
                         metadata={c: cols[c][i] for c in meta_cols}) for i in range(table.num_rows)]
        texts_in = [d.text for d in docs]
        if self.is_filter:
            keep, reasons = self._filter(docs)
        else:
            keep, reasons, docs = self._run(docs)
        columns = _new_metadata(docs, set(table.column_names))
        # the text the step rewrote, for the documents it kept (a dropped one keeps its own text in removed/,
        # though a filter such as fastText's has emptied it on the way)
        texts = [d.text if k else t for d, t, k in zip(docs, texts_in, keep, strict=True)]
        if texts != texts_in:
            columns["text"] = pa.array(texts, type=pa.string())
        return FilterResult(keep, reasons, columns)

    def _filter(self, docs: list[Any]) -> tuple[np.ndarray, list[str | None]]:
        from datatrove.pipeline.filters.base_filter import get_filter_result

        keep, reasons = np.ones(len(docs), bool), [None] * len(docs)
        for i, res in enumerate(self.step.filter_batch(docs)):
            ok, why = get_filter_result(res)
            if not ok:
                keep[i], reasons[i] = False, self.drop_reason(why)
        return keep, reasons

    def _run(self, docs: list[Any]) -> tuple[np.ndarray, list[str | None], list[Any]]:
        yielded = list(self.step.run(iter(docs), rank=0, world_size=1))
        given = {id(d) for d in docs}
        same = {id(d) for d in yielded if id(d) in given}  # steps yield what they were given (formatters edit it)
        new = {d.id: d for d in yielded if id(d) not in given}  # or, rarely, new objects with the same id
        result = [d if id(d) in same else new.get(d.id) for d in docs]
        keep = np.array([r is not None for r in result], bool)
        reasons = [None if k else self.drop_reason(None) for k in keep]
        return keep, reasons, [r if r is not None else d for r, d in zip(result, docs, strict=True)]


def _new_metadata(docs: list[Any], existing: set[str]) -> dict[str, pa.Array]:
    """Columns for the metadata keys the step added (JSON text when the values are not one Arrow type)."""
    keys = sorted({k for d in docs for k in d.metadata if k not in existing and k not in DOC_FIELDS})
    columns = {}
    for k in keys:
        values = [d.metadata.get(k) for d in docs]
        try:
            columns[k] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[k] = pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())
    return columns


def build_datatrove_step(spec: dict[str, Any], where: str) -> DatatroveStep:
    """``{datatrove: module.Class, **kwargs}`` -> the adapter."""
    opts = {k: v for k, v in spec.items() if k != SPEC_KEY}
    return DatatroveStep(spec[SPEC_KEY], where, **opts)
