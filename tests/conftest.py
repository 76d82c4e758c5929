"""Shared fixtures: paths to the bundled real data and one LocalCluster for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
