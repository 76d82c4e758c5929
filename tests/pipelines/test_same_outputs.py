"""Refactoring extract and dedup changed no document: the bundled inputs give what they gave before.

``tests/data/golden/extract_dedup.json`` was written by ``same_outputs.py`` at the commit it names (before the
house-split refactor of issue #24, after the ARC-id fix). A deliberate change of output regenerates it, and
the commit says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from same_outputs import outputs

GOLDEN = Path(__file__).parents[1] / "data" / "golden" / "extract_dedup.json"


def test_extract_and_dedup_give_the_documents_they_gave_before(dask_client, tmp_path):
    before = json.loads(GOLDEN.read_text())["runs"]
    now = outputs(tmp_path, dask_client)
    assert set(now) == set(before)
    for name in before:
        assert now[name] == before[name], name
    # cutting files into ranges changes nothing either
    assert now["extract/samples"] == now["extract/samples-64k-ranges"]
    assert now["extract/test-warcs"] == now["extract/test-warcs-16k-ranges"]
