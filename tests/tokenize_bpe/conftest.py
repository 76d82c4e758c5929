"""Fixtures for the tokenizer and packing tests: real text (tests/data/text, see its SOURCES.md) and one small
tokenizer trained on English books and Wikipedia pages only, shared by the session."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokens_helpers import TEXT, VOCAB, english_training_texts

from tokenize_bpe.export import export
from tokenize_bpe.train_merges import chunk_text, resolve_pattern, train_ranks


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


@pytest.fixture(scope="session")
def wide_tokenizer_dir(tmp_path_factory) -> Path:
    """A vocabulary past 65,536 ids: every byte and every pair of bytes (256 + 65,536 ranks, GPT-2 split regex),
    so ``<|endoftext|>`` is id 65,792. The 256 pairs of the 16 commonest English bytes take the last ranks
    (65,536-65,791), so ordinary text gets many ids that do not fit in 16 bits."""
    from tokenize_bpe.train_merges import GPT2_PATTERN

    common = set(b" etaoinshrdlcumw")
    pairs = sorted(((a, b) for a in range(256) for b in range(256)), key=lambda p: (p[0] in common and p[1] in common))
    ranks = {bytes([b]): b for b in range(256)}
    for a, b in pairs:
        ranks[bytes([a, b])] = len(ranks)
    out = tmp_path_factory.mktemp("wide-tokenizer")
    export(ranks, GPT2_PATTERN, out)
    return out
