"""Session fixtures for the decontamination tests: the real pages and the bundled index, built once."""

from __future__ import annotations

import pytest
from decontam_helpers import load_pages


@pytest.fixture(scope="session")
def pages() -> list[dict]:
    return load_pages()


@pytest.fixture(scope="session")
def english_pages(pages) -> list[str]:
    """Long, mostly-ASCII pages, longest first (room to plant several items)."""
    texts = [p["text"] for p in pages if len(p["text"]) > 4000]
    texts = [t for t in texts if sum(c.isascii() for c in t) / len(t) > 0.98]
    return sorted(texts, key=len, reverse=True)


@pytest.fixture(scope="session")
def bundled():
    """The stage with default options and its context (index of the bundled benchmarks), built once."""
    from pipelines.decontaminate import DecontaminateStage

    stage = DecontaminateStage()
    return stage, stage.prepare([])
