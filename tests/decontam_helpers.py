"""Helpers for the decontamination tests: real web pages, document tables, planting items into pages."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "data" / "decontam"


def load_pages() -> list[dict]:
    """181 real article pages (Scrapinghub article-extraction-benchmark gold text, MIT)."""
    with gzip.open(DATA / "web" / "aeb_articles.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def doc_table(texts: list[str], urls: list[str | None] | None = None) -> pa.Table:
    urls = urls or [f"https://example.com/{i}" for i in range(len(texts))]
    return pa.table({
        "id": [f"doc-{i}" for i in range(len(texts))],
        "text": texts,
        "url": urls,
        "source": ["test"] * len(texts),
        "lang": ["en"] * len(texts),  # a metadata column the stage must keep
    })


def plant(page: str, item: str, at: int) -> tuple[str, int, int]:
    """Insert ``item`` as its own paragraph before character ``at`` (moved back to a space).

    Returns (document, start, end) of the item inside the document.
    """
    while at > 0 and not page[at - 1].isspace():
        at -= 1
    head, tail = page[:at].rstrip(), page[at:].lstrip()
    doc = f"{head}\n\n{item}\n\n{tail}" if head else f"{item}\n\n{tail}"
    start = len(head) + 2 if head else 0
    return doc, start, start + len(item)


def write_parts(folder: Path, texts: list[str], per_file: int) -> list[str]:
    """Write documents as a stage output folder (``part-*.parquet``, ``per_file`` each); return [folder]."""
    out = folder / "in"
    out.mkdir()
    table = doc_table(texts)
    for i in range(0, len(texts), per_file):
        pq.write_table(table.slice(i, per_file), out / f"part-{i // per_file:05d}.parquet")
    return [str(out)]
