"""What the runner keeps and asks for grows with the work, not with its square (issue #21, review rows 2, 6, 10).

Markers fold as they arrive into what a merge in key order gives; merged lists are capped; a run has a
bounded window of tasks in flight; a rerun finds finished partitions from one listing, not one existence
check per partition.
"""

from __future__ import annotations

import json
import random
from typing import ClassVar

import pyarrow as pa
import pytest
from tiny_parts import ccnet_docs, write_tiny_partitions

from corpus_forge import runner, stats
from corpus_forge.runner import merge_markers, run_stage
from corpus_forge.stats import Counters, KeyOrderFold
from pipelines.filter import FilterConfig, FilterStage

GOPHER = FilterConfig(filters=[{"type": "gopher_quality"}])


def _old_merge(markers: list[dict]) -> Counters:
    """The merge before this change: copy and concatenate, in key order (quadratic, uncapped)."""
    total = Counters()
    for m in sorted(markers, key=lambda m: m["key"]):
        total = total.merge(Counters.from_dict({k: v for k, v in m.items() if k not in runner.MARKER_KEYS}))
    return total


def _rounded(v):
    """Float sums (timings) may differ in the last bit with the grouping; everything else must be equal."""
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


def _markers(n: int) -> list[dict]:
    """One marker per real CCNet document, filtered by Gopher's quality rules (some kept, some dropped)."""
    stage = FilterStage(GOPHER)
    docs = ccnet_docs()
    out = []
    for i in range(n):
        d = docs[i % len(docs)]
        table = pa.table({"id": [f"{d['id']}#{i}"], "text": [d["text"]], "url": [d["id"]], "source": ["ccnet"]})
        out.append({"key": f"k{i:04d}", "input": "x", **stage.process_table(table).counters.to_dict()})
    return out


def test_fold_in_any_order_gives_the_key_order_merge():
    markers = _markers(30)
    expected = _old_merge(markers).to_dict()
    assert expected["removed"] and expected["examples"]  # Gopher drops some of these pages, with examples
    for seed in range(3):
        shuffled = markers[:]
        random.Random(seed).shuffle(shuffled)
        fold = KeyOrderFold([m["key"] for m in markers])
        for m in shuffled:
            fold.add(m["key"], Counters.from_dict({k: v for k, v in m.items() if k not in runner.MARKER_KEYS}))
        assert fold.runs == 1  # every gap closed: one run holds everything
        assert _rounded(fold.result().to_dict()) == _rounded(expected)
    assert _rounded(merge_markers(markers[::-1]).to_dict()) == _rounded(expected)


def test_a_fold_holds_one_counter_per_gap_not_per_partition():
    markers = _markers(40)
    fold = KeyOrderFold([m["key"] for m in markers])
    for m in markers[::2]:  # every other partition finished: 20 gaps
        fold.add(m["key"], Counters.from_dict(m))
    assert fold.runs == 20
    for m in markers[1::2]:
        fold.add(m["key"], Counters.from_dict(m))
    assert fold.runs == 1


def test_merged_example_lists_are_capped_and_id_lists_are_sets(monkeypatch):
    monkeypatch.setattr(stats, "LIST_CAP", 4)
    markers = _markers(60)
    concatenated: dict[str, list[str]] = {}  # what the old merge kept: every partition's examples, in key order
    for m in sorted(markers, key=lambda m: m["key"]):
        for reason, examples in m["examples"].items():
            concatenated.setdefault(reason, []).extend(examples)
    assert max(len(v) for v in concatenated.values()) > 4
    total = merge_markers(markers).to_dict()
    assert total["examples"] == {r: v[:4] for r, v in concatenated.items()}
    a = Counters(extra={"found": {"items_found_ids": ["b", "a"]}})
    b = Counters(extra={"found": {"items_found_ids": ["c", "a"]}})
    assert a.merge_in(b).to_dict()["found"]["items_found_ids"] == ["a", "b", "c"]


class _CountingClient:
    """The real client, recording how many of its submitted futures were unfinished at each submit."""

    def __init__(self, client):
        self._client, self.futures, self.most_in_flight = client, [], 0

    def submit(self, *args, **kwargs):
        fut = self._client.submit(*args, **kwargs)
        self.futures.append(fut)
        self.most_in_flight = max(self.most_in_flight, sum(not f.done() for f in self.futures))
        return fut

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_run_keeps_a_bounded_window_of_tasks_in_flight(tmp_path, dask_client, monkeypatch):
    write_tiny_partitions(str(tmp_path / "in"), 24)
    monkeypatch.setattr(runner, "_window", lambda client: 4)
    counting = _CountingClient(dask_client)
    stats = run_stage(FilterStage(GOPHER), [str(tmp_path / "in")], str(tmp_path / "out"), client=counting,
                      progress=False)
    assert stats["partitions_done"] == 24 and len(counting.futures) == 24
    assert counting.most_in_flight <= 4


def test_a_rerun_finds_finished_partitions_by_one_listing(tmp_path, dask_client, monkeypatch):
    write_tiny_partitions(str(tmp_path / "in"), 40)
    out = str(tmp_path / "out")
    first = run_stage(FilterStage(GOPHER), [str(tmp_path / "in")], out, client=dask_client, progress=False)
    (tmp_path / "out" / "_SUCCESS").unlink()  # not complete: the rerun looks at every partition's marker
    calls: list[str] = []
    import fsspec.implementations.local as local

    real_exists = local.LocalFileSystem.exists
    monkeypatch.setattr(local.LocalFileSystem, "exists",
                        lambda self, path, **kw: calls.append(str(path)) or real_exists(self, path, **kw))
    again = run_stage(FilterStage(GOPHER), [str(tmp_path / "in")], out, client=dask_client, progress=False)
    assert again["partitions_done"] == 40
    assert {k: again[k] for k in ("documents_in", "documents_out", "removed", "examples")} == \
        {k: first[k] for k in ("documents_in", "documents_out", "removed", "examples")}
    assert not [c for c in calls if "_parts" in c]  # the old runner checked each of the 40 markers


def test_fold_rejects_a_key_that_is_no_partition():
    fold = KeyOrderFold([f"k{i}" for i in range(5)])
    with pytest.raises(KeyError, match="zz"):
        fold.add("zz", Counters())


def test_lists_that_are_not_examples_are_concatenated_whole():
    fold = KeyOrderFold([f"k{i:03d}" for i in range(150)])
    for i in reversed(range(150)):
        fold.add(f"k{i:03d}", Counters(extra={"runs": [{"seed": i}]}))
    assert fold.result().to_dict()["runs"] == [{"seed": i} for i in range(150)]


class _Recording(FilterStage):
    """The filter step, naming one marker field for its finalize, which records what it gets."""

    marker_fields = frozenset({"examples"})
    seen: ClassVar[list[dict]] = []

    def finalize(self, run, counters, markers):
        type(self).seen.extend(markers)
        return super().finalize(run, counters, markers)


def test_finalize_gets_the_marker_fields_a_step_names(tmp_path, dask_client):
    write_tiny_partitions(str(tmp_path / "in"), 3)
    stats = run_stage(_Recording(GOPHER), [str(tmp_path / "in")], str(tmp_path / "out"), client=dask_client,
                      progress=False)
    assert stats["partitions_done"] == 3, stats.get("failed_partitions")
    seen = _Recording.seen
    assert len(seen) == 3 and all("examples" in m and "key" in m for m in seen)
    assert not any("filter_seconds" in m for m in seen)  # a dict nobody asked for stays folded only


def test_a_marker_gone_between_listing_and_reading_is_run_again_and_a_failed_read_is_raised(tmp_path, monkeypatch):
    from corpus_forge import markers
    from corpus_forge.io import url_to_fs
    from corpus_forge.stage import Partition

    out = str(tmp_path / "out")
    fs, _ = url_to_fs(out)
    parts = [Partition(key=k, path=f"in/{k}.parquet") for k in ("a", "b", "c")]
    fs.makedirs(f"{out}/{markers.MARKERS}", exist_ok=True)
    for p in parts[:2]:
        with fs.open(markers.marker_path(out, p.key), "w") as f:
            f.write(json.dumps({"key": p.key, "documents_in": 2}))
    real_listed = markers.listed

    def listed_then_b_removed(fs, pattern):  # as a concurrent run of the step would, before the read
        found = real_listed(fs, pattern)
        fs.rm(markers.marker_path(out, "b"))
        return found

    monkeypatch.setattr(markers, "listed", listed_then_b_removed)
    sink = markers.MarkerSink(parts)
    todo = markers.read_finished(fs, out, parts, sink)
    assert [p.key for p in todo] == ["b", "c"]
    assert [m["key"] for m in sink.markers] == ["a"] and sink.fold.result().documents_in == 2

    monkeypatch.setattr(markers, "listed", real_listed)
    monkeypatch.setattr(markers, "_read_all", lambda fs, paths: {p: PermissionError(p) for p in paths})
    with pytest.raises(PermissionError):  # not skipped: the partition's counters would be lost
        markers.read_finished(fs, out, parts, markers.MarkerSink(parts))
