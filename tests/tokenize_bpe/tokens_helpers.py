"""Helpers for the tokenizer and packing tests: real text (tests/data/text, see its SOURCES.md)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

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
