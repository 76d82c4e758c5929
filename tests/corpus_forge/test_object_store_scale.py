"""S3 at snapshot scale (issue #21, item 3): requests per step are O(partitions), and throttling is retried.

Against the moto S3 server of tests/conftest.py, with every request counted by kind (tests/s3_traffic.py).
"""

from __future__ import annotations

import fsspec
from tiny_parts import write_tiny_partitions

from corpus_forge.io import S3_RETRIES, url_to_fs
from corpus_forge.runner import run_stage
from pipelines.filter import FilterConfig, FilterStage

GOPHER = FilterConfig(filters=[{"type": "gopher_quality"}])
FIGURES = ("documents_in", "documents_out", "removed", "examples")


def _run(bucket: str, n: int, client, traffic, name: str) -> tuple[dict, dict]:
    """A filter step over ``n`` one-document partitions in the bucket: (stats, requests by kind)."""
    write_tiny_partitions(f"{bucket}/{name}-in", n)
    fsspec.filesystem("s3").invalidate_cache()
    traffic.reset()
    stats = run_stage(FilterStage(GOPHER), [f"{bucket}/{name}-in"], f"{bucket}/{name}-out", client=client,
                      progress=False)
    return stats, dict(traffic.counts)


def test_requests_per_partition_do_not_grow_with_the_partitions(s3_bucket, s3_traffic, dask_client):
    small, few = _run(s3_bucket, 10, dask_client, s3_traffic, "ten")
    large, many = _run(s3_bucket, 40, dask_client, s3_traffic, "forty")
    assert small["partitions_done"] == 10 and large["partitions_done"] == 40
    per_small = sum(few.values()) / 10
    per_large = sum(many.values()) / 40
    # per partition: read its file, write its Parquet and its marker; the rest is a constant per step
    assert per_large <= per_small
    assert per_large <= 8, many  # measured: 1 HEAD + 1 GET + 2 PUT per partition, 15 LIST per step
    assert many.get("LIST", 0) <= few.get("LIST", 0) + 2  # listings are per step (paged by 1,000), not per file
    assert many.get("HEAD", 0) - few.get("HEAD", 0) <= 2 * 30  # at most two per partition more


def test_a_rerun_reads_finished_markers_without_one_check_each(s3_bucket, s3_traffic, dask_client, monkeypatch):
    first, _ = _run(s3_bucket, 30, dask_client, s3_traffic, "rerun")
    fs = fsspec.filesystem("s3")
    fs.rm(f"{s3_bucket}/rerun-out/_SUCCESS")
    fs.invalidate_cache()
    s3_traffic.reset()
    # s3fs finds a path in its cached listings by scanning the folder's whole listing: one such scan per
    # marker made a rerun over N markers O(N^2) on the client (100k markers: 21 ms of CPU each)
    scanned: list[int] = []
    lookup = type(fs)._ls_from_cache

    def counting_lookup(self, path):
        scanned.append(len(self.dircache.get(self._parent(path), ())))
        return lookup(self, path)

    monkeypatch.setattr(type(fs), "_ls_from_cache", counting_lookup)
    again = run_stage(FilterStage(GOPHER), [f"{s3_bucket}/rerun-in"], f"{s3_bucket}/rerun-out",
                      client=dask_client, progress=False)
    counts = dict(s3_traffic.counts)
    assert {k: again[k] for k in FIGURES} == {k: first[k] for k in FIGURES}
    assert counts.get("HEAD", 0) < 10, counts  # the old runner asked for each of the 30 markers
    assert counts.get("GET", 0) <= 30 + 10, counts  # one GET per marker, read concurrently
    assert counts.get("PUT", 0) < 10, counts  # nothing redone
    assert sum(scanned) < 30, scanned  # no marker looked up in a cached listing of the others


def test_s3_filesystems_carry_the_retry_policy_on_client_and_workers(s3_endpoint, dask_client):
    def policy() -> dict:
        return url_to_fs("s3://any-bucket/x")[0].config_kwargs["retries"]

    assert policy() == S3_RETRIES
    assert set(map(str, dask_client.run(policy).values())) == {str(S3_RETRIES)}


def test_throttled_requests_back_off_and_the_step_gives_the_same_result(s3_bucket, s3_traffic, dask_client):
    calm, _ = _run(s3_bucket, 12, dask_client, s3_traffic, "calm")
    write_tiny_partitions(f"{s3_bucket}/busy-in", 12)
    fsspec.filesystem("s3").invalidate_cache()
    # the next 3 requests that read or write objects are refused with 503 SlowDown
    s3_traffic.throttle(3, lambda env: env["REQUEST_METHOD"] in ("GET", "PUT") and "/busy-" in env["PATH_INFO"])
    busy = run_stage(FilterStage(GOPHER), [f"{s3_bucket}/busy-in"], f"{s3_bucket}/busy-out",
                     client=dask_client, progress=False)
    assert s3_traffic.throttled == 3
    assert busy["partitions_failed"] == 0 and busy["partitions_done"] == 12
    assert {k: busy[k] for k in FIGURES} == {k: calm[k] for k in FIGURES}
