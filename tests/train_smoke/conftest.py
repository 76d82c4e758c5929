"""Fixtures: a 512-id byte-level BPE trained on two public-domain books (tests/data/train_smoke), and each
book cut into documents of 40 lines and packed as one mix (see train_smoke_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_smoke_helpers import book_docs, pack, train_tokenizer


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One torch thread (before any other fixture trains): 2 shared cores, and spinning OpenMP threads
    slow a contended machine down many times over."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = book_docs("chesterton-brown") + book_docs("austen-persuasion")
    return train_tokenizer(texts, tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def brown_mix(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """The Father Brown stories (~100k tokens) as one packed mix."""
    return pack(tmp_path_factory.mktemp("shards") / "brown", book_docs("chesterton-brown"), tokenizer_dir)


@pytest.fixture(scope="session")
def persuasion_mix(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    return pack(tmp_path_factory.mktemp("shards") / "persuasion", book_docs("austen-persuasion"), tokenizer_dir)
