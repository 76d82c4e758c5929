"""The one document shape every stage reads and writes: ``id, text, url, source`` plus metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

REQUIRED_COLUMNS: tuple[str, ...] = ("id", "text", "url", "source")
REASON_COLUMN = "reason"

BASE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("source", pa.string(), nullable=False),
    ]
)


def stable_id(*parts: str | bytes) -> str:
    """A 32-hex-digit id from the given parts (e.g. a WARC-Record-ID); same input, same id."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p)
        h.update(b"\x00")
    return h.hexdigest()


def table_from_rows(rows: Iterable[Mapping[str, Any]], schema: pa.Schema | None = None) -> pa.Table:
    """Build a table from dict rows; the required columns come first, in contract order."""
    rows = list(rows)
    if schema is not None:
        return pa.Table.from_pylist(rows, schema=schema)
    if not rows:
        return BASE_SCHEMA.empty_table()
    return conform(pa.Table.from_pylist(rows))


def conform(table: pa.Table) -> pa.Table:
    """Check the required columns and put them first; metadata columns keep their order."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"document table lacks required column(s) {missing}")
    rest = [c for c in table.column_names if c not in REQUIRED_COLUMNS]
    table = table.select(list(REQUIRED_COLUMNS) + rest)
    casts = {}
    for name in REQUIRED_COLUMNS:
        col = table.schema.field(name)
        if col.type == pa.null() or col.type == pa.large_string():
            casts[name] = pa.string()
    for name, typ in casts.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(name).cast(typ))
    return table


def with_reason(table: pa.Table, reason: str | list[str]) -> pa.Table:
    """Add (or replace) the ``reason`` column on a table of removed documents."""
    values = [reason] * table.num_rows if isinstance(reason, str) else reason
    col = pa.array(values, type=pa.string())
    if REASON_COLUMN in table.column_names:
        return table.set_column(table.schema.get_field_index(REASON_COLUMN), REASON_COLUMN, col)
    return table.append_column(REASON_COLUMN, col)


def concat(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables whose metadata columns may differ (missing columns become nulls)."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return BASE_SCHEMA.empty_table()
    return pa.concat_tables(tables, promote_options="permissive")
