"""Benchmark test sets to remove from training data: a registry of loaders plus a generic loader.

Each benchmark becomes a list of items; an item is one test example as one or more texts (e.g. the
question alone, and question + answer), whose n-grams are what decontamination looks for.

Registered: ``gsm8k``, ``humaneval``, ``hellaswag`` (bundled: MIT, see ``filters/data/benchmarks``),
``truthfulqa``, ``openbookqa`` (added by path), and the fixed evaluation texts of ``train`` / ``ablate``
(``eval-wikitext2``, ``eval-pride-and-prejudice``: one item per paragraph, ``train_smoke/eval_texts``), so
that no curated mix holds the text its bits per byte are measured on. Any JSONL/CSV/Parquet file works
with a field mapping: ``BenchmarkSpec(name="mytask", path="test.jsonl", fields=["question", "answer"])`` or
on the command line ``mytask=test.jsonl#question,answer``.
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from corpus_forge.config import ConfigError, StageConfig

# The sets `corpus-forge decontaminate` uses when none is named (all bundled).
DEFAULT_BENCHMARKS: tuple[str, ...] = ("gsm8k", "humaneval", "hellaswag", "eval-wikitext2", "eval-pride-and-prejudice")
# The bits-per-byte evaluation texts of train_smoke (data files only: filters imports nothing from there).
EVAL_TEXTS = Path(__file__).resolve().parents[2] / "train_smoke" / "eval_texts"


class BenchmarkSpec(StageConfig):
    """One benchmark to load: a registered ``name`` (bundled copy or ``path``), or any file + ``fields``."""

    name: str = Field(description="a bundled benchmark (gsm8k, humaneval, hellaswag, eval-*) or any name for "
                                  "your own file")
    path: str | None = Field(None, description="the benchmark's test file; none = the bundled copy")
    fields: list[str] | None = Field(None, description="dotted keys joined into one text per row (any file); "
                                                       "none = the registered benchmark's own fields")
    format: Literal["jsonl", "csv", "parquet"] | None = Field(None, description="the file's format; none = from "
                                                                                "its name")


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    texts: tuple[str, ...]


@dataclass
class Benchmark:
    name: str
    items: list[BenchmarkItem]
    source: str
    skipped: int = 0  # rows without the needed fields
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- reading files


def _open_text(path: str) -> io.TextIOBase:
    """Open a local or fsspec path as text, decompressing .gz/.bz2/.xz/.zst by suffix."""
    import fsspec

    return fsspec.open(path, "rt", encoding="utf-8", compression="infer").open()


def _bundled(name: str) -> io.TextIOBase:
    ref = resources.files("filters").joinpath("data", "benchmarks", name)
    return io.TextIOWrapper(lzma.open(ref.open("rb")), encoding="utf-8")


def _jsonl(f: io.TextIOBase, where: str) -> Iterator[dict[str, Any]]:
    with f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{where}: line {n} is not JSON: {err}") from None


def _csv(f: io.TextIOBase) -> Iterator[dict[str, Any]]:
    with f:
        yield from csv.DictReader(f)


def _parquet(path: str) -> Iterator[dict[str, Any]]:
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as f:
        yield from pq.read_table(f).to_pylist()


def _rows(path: str, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    base = re.sub(r"\.(gz|bz2|xz|zst)$", "", os.path.basename(path).lower())
    fmt = fmt or ("csv" if base.endswith(".csv") else "parquet" if base.endswith(".parquet") else "jsonl")
    if fmt == "parquet":
        return _parquet(path)
    if fmt == "csv":
        return _csv(_open_text(path))
    return _jsonl(_open_text(path), path)


def _get(row: dict[str, Any], key: str) -> Any:
    """``row["a"]["b"]`` for key ``a.b``; lists of values are joined with spaces; None when missing."""
    cur: Any = row
    for part in key.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    if isinstance(cur, list):
        return " ".join(str(x.get("text", x)) if isinstance(x, dict) else str(x) for x in cur)
    return None if cur is None else str(cur)


# ---------------------------------------------------------------- per-benchmark loaders

_CALC = re.compile(r"<<[^<>]*>>")


def _gsm8k(rows: Iterator[dict[str, Any]]) -> tuple[list[BenchmarkItem], int]:
    """Question; question + answer as released (with ``<<calc>>`` notes); question + readable answer."""
    items, skipped = [], 0
    for i, r in enumerate(rows):
        q, a = r.get("question"), r.get("answer")
        if not q or not a:
            skipped += 1
            continue
        items.append(BenchmarkItem(f"gsm8k/{i}", (q, f"{q}\n{a}", f"{q}\n{_CALC.sub('', a)}")))
    return items, skipped


def _humaneval(rows: Iterator[dict[str, Any]]) -> tuple[list[BenchmarkItem], int]:
    """Prompt (signature + docstring); prompt + canonical solution."""
    items, skipped = [], 0
    for i, r in enumerate(rows):
        p, s = r.get("prompt"), r.get("canonical_solution") or ""
        if not p:
            skipped += 1
            continue
        items.append(BenchmarkItem(str(r.get("task_id") or f"humaneval/{i}"), (p, p + s)))
    return items, skipped


def _hellaswag_text(f: io.TextIOBase) -> Iterator[dict[str, Any]]:
    """klosax's text rendering: 6 lines per item (``label: ctx``, gold index, 4 endings)."""
    with f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise ValueError(f"HellaSwag text file: {len(lines)} lines is not a multiple of 6")
    for i in range(0, len(lines), 6):
        ctx, label, *endings = lines[i : i + 6]
        yield {"ind": i // 6, "ctx": ctx, "gold": endings[int(label)] if label.strip().isdigit() else None}


def _hellaswag(rows: Iterator[dict[str, Any]]) -> tuple[list[BenchmarkItem], int]:
    """Context (with its activity label) + correct ending. Accepts the official JSONL
    (``activity_label, ctx, endings, label``), our bundled form (``ctx, gold``) and klosax's text form."""
    items, skipped = [], 0
    for i, r in enumerate(rows):
        ctx, gold = r.get("ctx"), r.get("gold")
        if gold is None and isinstance(r.get("endings"), list) and str(r.get("label", "")).isdigit():
            gold = r["endings"][int(r["label"])]
            if r.get("activity_label"):
                ctx = f"{r['activity_label']}: {ctx}"
        if not ctx or not gold:
            skipped += 1
            continue
        items.append(BenchmarkItem(f"hellaswag/{r.get('ind', i)}", (f"{ctx} {gold}",)))
    return items, skipped


def _truthfulqa(rows: Iterator[dict[str, Any]]) -> tuple[list[BenchmarkItem], int]:
    """Question; question + best answer (TruthfulQA.csv columns)."""
    items, skipped = [], 0
    for i, r in enumerate(rows):
        q, a = r.get("Question"), r.get("Best Answer")
        if not q:
            skipped += 1
            continue
        items.append(BenchmarkItem(f"truthfulqa/{i}", (q, f"{q} {a}") if a else (q,)))
    return items, skipped


def _openbookqa(rows: Iterator[dict[str, Any]]) -> tuple[list[BenchmarkItem], int]:
    """Question stem; stem + correct choice (original OpenBookQA JSONL)."""
    items, skipped = [], 0
    for i, r in enumerate(rows):
        q = r.get("question") or {}
        stem = q.get("stem") if isinstance(q, dict) else None
        if not stem:
            skipped += 1
            continue
        key = r.get("answerKey")
        answer = next((c.get("text") for c in q.get("choices", []) if c.get("label") == key), None)
        items.append(BenchmarkItem(str(r.get("id") or f"openbookqa/{i}"),
                                   (stem, f"{stem} {answer}") if answer else (stem,)))
    return items, skipped


def _paragraph_rows(f: io.TextIOBase) -> Iterator[dict[str, Any]]:
    """A plain text as rows, one per blank-line-separated paragraph (WikiText: one per line)."""
    with f:
        text = f.read()
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        if para.strip():
            yield {"text": para.strip()}


def _eval_text(rows: Iterator[dict[str, Any]]) -> tuple[list[BenchmarkItem], int]:
    """One item per paragraph of an evaluation text (short ones are skipped by the index's min_words)."""
    return [BenchmarkItem(f"paragraph/{i}", (r["text"],)) for i, r in enumerate(rows)], 0


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    parse: Callable[[Iterator[dict[str, Any]]], tuple[list[BenchmarkItem], int]]
    bundled: str | None  # file in filters/data/benchmarks
    licence: str
    description: str


REGISTRY: dict[str, BenchmarkInfo] = {
    "gsm8k": BenchmarkInfo("gsm8k", _gsm8k, "gsm8k_test.jsonl.xz", "MIT",
                           "GSM8K test (1,319 grade-school math problems)"),
    "humaneval": BenchmarkInfo("humaneval", _humaneval, "HumanEval.jsonl.xz", "MIT",
                               "HumanEval (164 Python problems: prompt + canonical solution)"),
    "hellaswag": BenchmarkInfo("hellaswag", _hellaswag, "hellaswag_val_gold.jsonl.xz", "MIT",
                               "HellaSwag validation (10,042 contexts + gold endings)"),
    "truthfulqa": BenchmarkInfo("truthfulqa", _truthfulqa, None, "Apache-2.0",
                                "TruthfulQA (817 questions + best answers; TruthfulQA.csv)"),
    "openbookqa": BenchmarkInfo("openbookqa", _openbookqa, None, "Apache-2.0",
                                "OpenBookQA test (500 question stems + correct choices)"),
    "eval-wikitext2": BenchmarkInfo("eval-wikitext2", _eval_text, "wikitext2_test.txt.gz", "CC BY-SA 3.0",
                                    "WikiText-2 raw test, first 10 articles (train's bits-per-byte text)"),
    "eval-pride-and-prejudice": BenchmarkInfo("eval-pride-and-prejudice", _eval_text, "pride_and_prejudice.txt.gz",
                                              "public domain", "Pride and Prejudice, ch. 1-24 (train's bpb text)"),
}


def parse_spec(text: str) -> BenchmarkSpec:
    """``NAME`` | ``NAME=PATH`` | ``NAME=PATH#FIELD,FIELD`` (command-line form of :class:`BenchmarkSpec`)."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not name:
        raise ConfigError(f"benchmark {text!r}: expected NAME, NAME=PATH or NAME=PATH#FIELD,FIELD")
    if not sep:
        return BenchmarkSpec(name=name)
    path, _, fields = rest.partition("#")
    flist = [f.strip() for f in fields.split(",") if f.strip()] or None
    return BenchmarkSpec(name=name, path=path.strip() or None, fields=flist)


def as_spec(obj: str | BenchmarkSpec | dict[str, Any]) -> BenchmarkSpec:
    if isinstance(obj, BenchmarkSpec):
        return obj
    if isinstance(obj, str):
        return parse_spec(obj)
    return BenchmarkSpec.model_validate(obj)


def check_spec(spec: BenchmarkSpec) -> None:
    """Raise :class:`ConfigError` for an unknown name without fields, or a path that does not exist."""
    info = REGISTRY.get(spec.name)
    if spec.fields is None and info is None:
        raise ConfigError(f"benchmark {spec.name!r}: not a registered benchmark ({', '.join(REGISTRY)}); "
                          "give a path and fields, e.g. mytask=test.jsonl#question,answer")
    if spec.path is None and (spec.fields is not None or info is None or info.bundled is None):
        raise ConfigError(f"benchmark {spec.name!r}: not bundled; give its file, e.g. {spec.name}=PATH")
    if spec.path is not None:
        import fsspec

        fs, _, paths = fsspec.get_fs_token_paths(spec.path)
        if not paths or not fs.exists(paths[0]):
            raise ConfigError(f"benchmark {spec.name!r}: file not found: {spec.path}")


def load_benchmark(spec: str | BenchmarkSpec | dict[str, Any]) -> Benchmark:
    """Load one benchmark's items (see :func:`parse_spec` for the string form)."""
    spec = as_spec(spec)
    check_spec(spec)
    info = REGISTRY.get(spec.name)
    if spec.fields is not None:
        items, skipped = [], 0
        for i, row in enumerate(_rows(spec.path, spec.format)):  # type: ignore[arg-type]
            vals = [_get(row, k) for k in spec.fields]
            if any(v is None or not v.strip() for v in vals):
                skipped += 1
                continue
            items.append(BenchmarkItem(f"{spec.name}/{i}", (" ".join(vals),)))
        source = spec.path or ""
    else:
        items, skipped, source = _load_registered(spec, info)
    if not items:
        raise ValueError(f"benchmark {spec.name!r}: no items in {source} ({skipped} rows lack the needed "
                         "fields; is it the right file?)")
    return Benchmark(spec.name, items, source, skipped)


def _load_registered(spec: BenchmarkSpec, info: BenchmarkInfo | None) -> tuple[list[BenchmarkItem], int, str]:
    assert info is not None
    if info.parse is _eval_text:
        path = spec.path or str(EVAL_TEXTS / info.bundled)  # type: ignore[operator]
        rows: Iterator[dict[str, Any]] = _paragraph_rows(_open_text(path))
        source = spec.path or f"bundled:train_smoke/eval_texts/{info.bundled}"
    elif spec.path is None:
        rows = _jsonl(_bundled(info.bundled), f"bundled {info.bundled}")  # type: ignore
        source = f"bundled:{info.bundled}"
    else:
        base = spec.path.lower()
        if info.name == "hellaswag" and re.search(r"\.txt(\.(gz|bz2|xz|zst))?$", base):
            rows = _hellaswag_text(_open_text(spec.path))
        else:
            rows = _rows(spec.path, spec.format)
        source = spec.path
    items, skipped = info.parse(rows)
    return items, skipped, source


def list_benchmarks() -> list[dict[str, Any]]:
    """The registry as rows (name, bundled, licence, description) for ``--help`` and docs."""
    return [{"name": i.name, "bundled": i.bundled is not None, "licence": i.licence,
             "description": i.description} for i in REGISTRY.values()]
