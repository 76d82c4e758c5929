"""Fixtures for the dedup tests (helpers live in ``dedup_helpers``)."""

from __future__ import annotations

import pytest
from dedup_helpers import load_articles


@pytest.fixture(scope="session")
def articles() -> list[dict]:
    return load_articles()
