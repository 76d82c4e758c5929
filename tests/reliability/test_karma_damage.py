"""A karma dump that is not one, or is cut short, is a problem file, never a silent success (issue #14, item 8)."""

from __future__ import annotations

import random

import pytest

from pipelines.karma import KarmaBuildStage, scan_dump


@pytest.fixture
def random_dump(tmp_path):
    path = tmp_path / "RS_2019-01.zst"  # the name says zstd; the bytes are noise
    path.write_bytes(random.Random(0).randbytes(200_000))
    return path


def test_random_bytes_are_a_problem_file_not_a_dump(random_dump):
    c = scan_dump(str(random_dump)).counters
    c.check()
    assert c.documents_out == 0 and c.errors["not_a_dump"] == 1
    assert c.extra["files_read"] == 0 and c.extra["files_damaged"] == 1
    assert c.extra["problem_files"][0]["path"] == str(random_dump)


def test_a_truncated_dump_counts_what_it_read_and_reports_the_damage(data_dir, tmp_path):
    src = data_dir / "karma" / "RS_v2_2005-06.xz"
    raw = src.read_bytes()
    cut = tmp_path / src.name
    cut.write_bytes(raw[: len(raw) // 2])
    whole = scan_dump(str(src)).counters
    c = scan_dump(str(cut)).counters
    c.check()
    # the lines before the cut are used: some, not all
    assert 0 < c.documents_out < whole.documents_out and c.documents_in < whole.documents_in
    assert c.errors["truncated_file"] == 1 and c.extra["files_read"] == 1 and c.extra["files_damaged"] == 1
    (problem,) = c.extra["problem_files"]
    assert problem["path"] == str(cut) and "cut after" in problem["problem"]


def test_a_dump_cut_before_its_first_line_read_nothing(data_dir, tmp_path):
    cut = tmp_path / "RS_v2_2005-06.xz"
    cut.write_bytes((data_dir / "karma" / "RS_v2_2005-06.xz").read_bytes()[:200])
    c = scan_dump(str(cut)).counters
    assert c.extra["files_read"] == 0 and c.errors["truncated_file"] == 1


def _build(inputs, out, client) -> dict:
    from corpus_forge.runner import run_stage

    return run_stage(KarmaBuildStage(), [str(p) for p in inputs], str(out), client=client, progress=False)


def test_build_with_no_readable_dump_fails(random_dump, tmp_path, dask_client):
    from corpus_forge.runner import stage_failed

    stats = _build([random_dump], tmp_path / "table", dask_client)
    assert stats["files_read"] == 0 and stats["errors"]["not_a_dump"] == 1
    assert "no dump could be read" in (stage_failed(stats) or "")
    assert not (tmp_path / "table" / "_SUCCESS").exists()


def test_build_with_one_bad_dump_names_it(random_dump, data_dir, tmp_path, dask_client):
    stats = _build([data_dir / "karma" / "RS_v2_2005-06.xz", random_dump], tmp_path / "table", dask_client)
    assert stats["files"] == 2 and stats["files_read"] == 1 and stats["files_damaged"] == 1
    assert [p["path"] for p in stats["problem_files"]] == [str(random_dump)]
    assert stats["errors"] == {"not_a_dump": 1}
