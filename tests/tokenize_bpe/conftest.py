"""Fixtures for the tokenizer and packing tests: real text (tests/data/text, see its SOURCES.md) and one small
tokenizer trained on English books and Wikipedia pages only, shared by the session."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenize_bpe.export import export
from tokenize_bpe.train import chunk_text, resolve_pattern, train_ranks

TEXT = Path(__file__).parent.parent / "data" / "text"
VOCAB = 2048


def read_text(path: Path) -> str:
    raw = path.read_bytes()
    return (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")


def english_training_texts() -> list[str]:
    """The five Gutenberg books and the Wikipedia pages: the training sample of the session tokenizer."""
    return [read_text(p) for p in sorted((TEXT / "books").glob("*.txt.gz")) + sorted((TEXT / "wiki").glob("*.txt.gz"))]


def jsonl_texts(name: str) -> list[str]:
    path = TEXT / name
    lines = (gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()).decode().splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


@pytest.fixture(scope="session")
def text_dir() -> Path:
    return TEXT


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """rustbpe, GPT-2 split regex, 2048 tokens, trained on English only (no CJK, Arabic, Cyrillic, emoji)."""
    out = tmp_path_factory.mktemp("tokenizer")
    texts = [c for t in english_training_texts() for c in chunk_text(t, 1 << 16)]
    export(train_ranks(texts, VOCAB, "gpt2"), resolve_pattern("gpt2"), out)
    return out


@pytest.fixture(scope="session")
def stage_dir(tmp_path_factory) -> Path:
    """A stage output folder (``part-*.parquet`` with id, text, url, source) of the 20 Dolma CCNet documents."""
    out = tmp_path_factory.mktemp("stage")
    for i, name in enumerate(["cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"]):
        lines = gzip.decompress((TEXT / name).read_bytes()).decode().splitlines()
        rows = [json.loads(x) for x in lines if x.strip()]
        table = pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                          "url": [r["id"] for r in rows], "source": [name] * len(rows)})
        pq.write_table(table, out / f"part-{i:05d}.parquet")
    (out / "_SUCCESS").touch()
    return out
