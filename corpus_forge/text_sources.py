"""One reader of documents from stage outputs and plain files, through fsspec.

Accepted inputs (local paths, globs, directories, ``s3://``/``http(s)://`` URLs):

=========================  ===================================================================
stage output directory     its ``part-*.parquet`` (columns ``id``, ``text``)
other directory            the supported files inside it (others, e.g. ``LICENSE``, are skipped)
``*.parquet``              columns ``text`` and, when present, ``id``
``*.jsonl`` / ``*.json``   one JSON object per line with ``text`` and optional ``id``;
                           ``.gz``, ``.zst``, ``.bz2``, ``.xz`` compression
``*.txt``                  the whole file is one document, id = hash of its text; ``.gz`` etc.
=========================  ===================================================================

A document without an ``id`` gets the hash of its text (content ids, never stream positions).
Documents come in batches ``(ids, texts, source)``; ``source`` is the caller's label or the file path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import NamedTuple

import fsspec
import pyarrow.parquet as pq

from corpus_forge.io import InputError, expand_inputs, matches, stage_output_files
from corpus_forge.schema import stable_id

COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2", ".xz": "xz"}
TEXT_KINDS = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}


class TextBatch(NamedTuple):
    ids: list[str]
    texts: list[str]
    source: str


def file_kind(path: str) -> tuple[str, str | None] | None:
    """``(kind, compression)`` of a supported file, else None. ``kind``: parquet, jsonl or txt."""
    name = path.lower()
    compression = None
    for ext, comp in COMPRESSIONS.items():
        if name.endswith(ext):
            name, compression = name[: -len(ext)], comp
            break
    for ext, kind in TEXT_KINDS.items():
        if name.endswith(ext):
            if kind == "parquet" and compression:
                return None
            return kind, compression
    return None


def text_files(inputs: list[str]) -> list[str]:
    """Resolve inputs to supported document files (sorted per input; a stage dir gives its parts)."""
    files: list[str] = []
    for item in inputs:
        fs, paths = matches(item)
        for p in paths:
            name = fs.unstrip_protocol(p) if "://" in item else p
            if fs.isdir(p):
                if fs.glob(p.rstrip("/") + "/part-*.parquet"):
                    files.extend(stage_output_files([name]))
                    continue
                found = [f for f in expand_inputs([name]) if file_kind(f)]
                if not found:
                    raise InputError(f"{item!r} holds no .parquet, .jsonl or .txt files")
                files.extend(found)
            elif not fs.exists(p):
                raise InputError(f"input not found: {item!r}")
            elif file_kind(p) is None:
                raise InputError(f"{item!r}: not a .parquet, .jsonl(.gz/.zst/.bz2/.xz) or .txt(.gz) file")
            else:
                files.append(name)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def read_documents(path: str, source: str | None = None, batch_size: int = 1024,
                   chunk_chars: int | None = None) -> Iterator[TextBatch]:
    """Yield the documents of one file in batches of about ``batch_size``.

    ``chunk_chars``: a ``.txt`` file is read in pieces of whole lines of about that many characters (each
    piece one document) instead of whole, for reference texts too large to hold at once."""
    kinds = file_kind(path)
    if kinds is None:
        raise InputError(f"{path}: unsupported document file")
    kind, compression = kinds
    label = source or path
    if kind == "parquet":
        yield from _read_parquet(path, label, batch_size)
    elif kind == "jsonl":
        yield from _read_jsonl(path, compression, label, batch_size)
    elif chunk_chars:
        yield from _read_txt_chunks(path, compression, label, chunk_chars)
    else:
        with fsspec.open(path, "rb", compression=compression) as f:
            text = f.read().decode("utf-8", errors="replace")
        yield TextBatch([stable_id("txt", text)], [text], label)  # a content id: the same wherever the file is


def _read_txt_chunks(path: str, compression: str | None, label: str, chunk_chars: int) -> Iterator[TextBatch]:
    with fsspec.open(path, "rt", compression=compression, encoding="utf-8", errors="replace") as f:
        buf: list[str] = []
        size, n = 0, 0
        for line in f:
            buf.append(line)
            size += len(line)
            if size >= chunk_chars:
                yield TextBatch([stable_id("txt", "".join(buf))], ["".join(buf)], label)
                buf, size, n = [], 0, n + 1
        if buf:
            yield TextBatch([stable_id("txt", "".join(buf))], ["".join(buf)], label)


def _read_parquet(path: str, label: str, batch_size: int) -> Iterator[TextBatch]:
    with fsspec.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        if "text" not in names:
            raise InputError(f"{path}: no 'text' column (columns: {names})")
        cols = ["id", "text"] if "id" in names else ["text"]
        for rb in pf.iter_batches(batch_size=batch_size, columns=cols):
            texts = [t or "" for t in rb.column("text").to_pylist()]
            if "id" in cols:
                ids = [str(i) if i is not None else stable_id(t) for i, t in zip(rb.column("id").to_pylist(), texts,
                                                                                   strict=True)]
            else:
                ids = [stable_id(t) for t in texts]
            yield TextBatch(ids, texts, label)


def _read_jsonl(path: str, compression: str | None, label: str, batch_size: int) -> Iterator[TextBatch]:
    ids: list[str] = []
    texts: list[str] = []
    with fsspec.open(path, "rt", compression=compression, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}:{lineno}: not JSON ({err.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise InputError(f"{path}:{lineno}: no string field 'text'")
            text = obj["text"]
            ids.append(str(obj["id"]) if obj.get("id") is not None else stable_id(text))
            texts.append(text)
            if len(texts) >= batch_size:
                yield TextBatch(ids, texts, label)
                ids, texts = [], []
    if texts:
        yield TextBatch(ids, texts, label)


def iter_documents(inputs: list[str], batch_size: int = 1024) -> Iterator[TextBatch]:
    """Every document of every input, file by file, in batches."""
    for path in text_files(inputs):
        yield from read_documents(path, batch_size=batch_size)


def source_label(path: str) -> str:
    """A short name for a mix source: the last path component without extensions."""
    base = os.path.basename(path.rstrip("/")) or path
    for ext in (*COMPRESSIONS, *TEXT_KINDS):
        base = base.removesuffix(ext)
    return base or path
