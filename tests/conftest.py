"""Shared fixtures: paths to the bundled real data and one LocalCluster for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from decontam_helpers import load_pages

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def dask_client():
    """A real LocalCluster with 2 worker processes, shared by the tests that need Dask."""
    from corpus_forge.cluster import get_client

    os.environ.pop("DASK_SCHEDULER_ADDRESS", None)
    with get_client(workers=2, quiet=True) as client:
        yield client


# ---- decontamination fixtures (the real pages and the bundled index, built once) ----
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
