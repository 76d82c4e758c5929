"""ARC files (plain and gzipped): warcio turns their records into WARC records with a random WARC-Record-ID,
so extract names each by file and offset; the same file gives the same ids on every run."""

from __future__ import annotations

import pytest

from corpus_forge.schema import stable_id
from pipelines.extract import ExtractStage

ARCS = ["example.arc.gz", "IAH-20080430204825-00000-blackbook-truncated.arc"]


def ids(path) -> tuple[list[str], list[str]]:
    stage = ExtractStage()
    kept, removed = [], []
    for part in stage.partitions([str(path)]):
        res = stage.process(part)
        kept += res.kept.to_pylist()
        removed += res.removed.to_pylist()
    return kept, removed


@pytest.mark.parametrize("name", ARCS)
def test_arc_record_ids_are_file_at_offset_and_stable(data_dir, name):
    path = data_dir / "warc" / name
    kept, removed = ids(path)
    again_kept, again_removed = ids(path)
    assert kept and [r["id"] for r in kept] == [r["id"] for r in again_kept]
    assert [r["id"] for r in removed] == [r["id"] for r in again_removed]
    for r in kept + removed:
        assert r["id"] == stable_id(f"{name}@{r['warc_offset']}")
        assert r["warc_record_id"] is None


def test_warc_records_keep_their_record_ids(data_dir):
    kept, _ = ids(data_dir / "warc" / "whirlwind.warc.gz")
    assert kept[0]["warc_record_id"].startswith("<urn:uuid:") and kept[0]["id"] == stable_id(kept[0]["warc_record_id"])
