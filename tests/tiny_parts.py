"""Many tiny partitions of real documents (the CCNet pages of tests/data/text), as a stage's output folder."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

TEXT = Path(__file__).resolve().parent / "data" / "text"


def ccnet_docs() -> list[dict]:
    """The 20 CCNet English documents (id = URL, text)."""
    docs = []
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        with gzip.open(TEXT / name, "rt", encoding="utf-8") as f:
            docs.extend(json.loads(line) for line in f if line.strip())
    return docs


def write_tiny_partitions(folder: str, n: int, docs_per_part: int = 1) -> list[str]:
    """``n`` files ``folder/part-NNNNNN.parquet`` of ``docs_per_part`` real documents each (ids made distinct)."""
    docs = ccnet_docs()
    fs, root = fsspec.core.url_to_fs(folder)
    fs.makedirs(root, exist_ok=True)
    paths = []
    for i in range(n):
        rows = [docs[(i * docs_per_part + j) % len(docs)] for j in range(docs_per_part)]
        table = pa.table({"id": [f"{r['id']}#{i}-{j}" for j, r in enumerate(rows)],
                          "text": [r["text"] for r in rows], "url": [r["id"] for r in rows],
                          "source": ["ccnet"] * len(rows)})
        path = os.path.join(root, f"part-{i:06d}.parquet")
        with fs.open(path, "wb") as f:
            pq.write_table(table, f)
        paths.append(path)
    return paths
