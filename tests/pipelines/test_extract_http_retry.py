"""extract reads a WARC by http(s) URL through throttling and dropped connections (Common Crawl's https endpoint
answers 503 / 429 "SlowDown" under load, datatrove #302): each request is retried with backoff, and a server that
stays throttled fails the partition with one clear error, never a silent loss (#21)."""

from __future__ import annotations

import fsspec
import pytest
from http_faults import serve

import corpus_forge.http_retry as http_retry
from corpus_forge.http_retry import RetriesExhausted, retry_after
from corpus_forge.io import InputError, expand_inputs
from corpus_forge.stats import Counters
from pipelines.extract import ExtractStage

WARC = "warcfile.warc.gz"  # 135,896 bytes, 50 records (SOURCES.md)


def extract(path: str) -> tuple[Counters, list[tuple]]:
    stage = ExtractStage()
    total, docs = Counters(), []
    for part in stage.partitions([path]):
        res = stage.process(part)
        total = total.merge(res.counters)
        docs += [(r["id"], r["url"], r["warc_offset"], r["text"]) for r in res.kept.to_pylist()]
    return total, sorted(docs)


@pytest.fixture(scope="module")
def local(data_dir):
    return extract(str(data_dir / "warc" / WARC))


@pytest.fixture
def quick(monkeypatch):
    """Tiny waits, and a record of the backoff waits taken (not those a Retry-After header set)."""
    waits: list[int] = []
    monkeypatch.setattr(http_retry, "backoff", lambda attempt: waits.append(attempt) or 0.001)
    monkeypatch.setattr(http_retry, "HTTP_ATTEMPTS", 5)
    return waits


def first(kinds: list[str]):
    """The first requests answer ``kinds`` in turn, later ones are served."""
    return lambda n, method, ranged: kinds[n] if n < len(kinds) else None


def every_ranged(kinds: list[str], gap: int):
    """Every ``gap``-th request carrying a Range header answers the next of ``kinds`` (cycling)."""
    seen = [0]

    def fault(n, method, ranged):
        if not ranged:
            return None
        seen[0] += 1
        return kinds[(seen[0] // gap) % len(kinds)] if seen[0] % gap == 0 else None

    return fault


@pytest.mark.parametrize(("fault", "block", "backoffs"), [
    (first(["503", "503-retry-after", "429", "500"]), None, 3),  # the size probe, then the first read
    (first(["reset", "503", "reset"]), None, 3),  # dropped connections count as retriable failures too
    (every_ranged(["503", "reset", "cut", "503-retry-after"], gap=3), 8192, None),  # ranged reads, mid-file
])
def test_a_throttled_warc_by_url_gives_the_documents_of_the_local_file(
        data_dir, local, quick, monkeypatch, fault, block, backoffs):
    if block:  # many ranged reads of one file: faults land in the middle of the file
        monkeypatch.setitem(fsspec.config.conf["http"], "block_size", block)
    with serve((data_dir / "warc" / WARC).read_bytes(), WARC, fault) as server:
        got, docs = extract(server.url)
    want, want_docs = local
    assert docs == want_docs and len(docs) > 5
    assert (got.documents_in, got.removed, got.errors) == (want.documents_in, want.removed, want.errors)
    assert sum(server.faults.values()) >= 3
    if block:
        assert server.faults["cut"] >= 1 and server.counts["GET"] > 12  # many ranged reads, some cut short
    # a Retry-After header sets the wait itself; the others back off
    assert len(quick) == (backoffs if backoffs is not None else sum(server.faults.values())
                          - server.faults["503-retry-after"])


@pytest.mark.parametrize("fault", [
    lambda n, method, ranged: "503",  # throttled from the start: the size probe already fails
    lambda n, method, ranged: "503-retry-after" if ranged else None,  # probe answered, every read throttled
])
def test_a_server_that_stays_throttled_fails_the_partition_clearly(data_dir, quick, monkeypatch, fault):
    monkeypatch.setitem(fsspec.config.conf["http"], "block_size", 8192)
    from corpus_forge.stage import Partition

    with serve((data_dir / "warc" / WARC).read_bytes(), WARC, fault) as server:
        part = Partition(key="p", path=server.url, start=0, end=None)  # as partitions() plans a URL
        with pytest.raises(RetriesExhausted, match=r"HTTP 503 .* on each of 5 attempts") as err:
            ExtractStage().process(part)
    assert server.url in str(err.value)  # names the file; not counted as corrupt records and read past
    assert 5 <= sum(server.faults.values()) <= 2 * 5  # bounded (fsspec's size probe tries HEAD, then GET)


def test_planning_a_url_that_stays_throttled_is_one_clear_input_error(data_dir, quick):
    with serve(b"", WARC, lambda n, method, ranged: "429") as server:
        with pytest.raises(InputError, match=r"HTTP 429 .* on each of 5 attempts"):
            expand_inputs([server.url])
    assert server.faults["429"] == 5  # fsspec's first request (isdir's GET) is retried, then the step stops


def test_the_runner_reports_a_partition_whose_reads_stay_throttled(data_dir, tmp_path, dask_client):
    """Through the runner, on worker processes with the default attempts: the partition is listed as failed with
    the error, the stage is no success (Retry-After: 0 keeps the test quick)."""
    from corpus_forge.runner import run_stage, stage_failed

    def fault(n, method, ranged):
        return "503-retry-after" if ranged else None  # planning and the size probe answered, every read throttled

    with serve((data_dir / "warc" / WARC).read_bytes(), WARC, fault) as server:
        stats = run_stage(ExtractStage(), [server.url], str(tmp_path / "o"), client=dask_client, progress=False,
                          retries=0)
    (failed,) = stats["failed_partitions"]
    assert failed["input"] == server.url and "RetriesExhausted" in failed["error"]
    assert f"on each of {http_retry.HTTP_ATTEMPTS} attempts" in failed["error"]
    assert server.faults["503-retry-after"] == http_retry.HTTP_ATTEMPTS
    assert stage_failed(stats) and not (tmp_path / "o" / "_SUCCESS").exists()


def test_retry_after_reads_seconds_and_dates_within_the_cap():
    assert retry_after("2") == 2.0 and retry_after(" 0 ") == 0.0
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after("999999") == http_retry.HTTP_MAX_DELAY
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: go now
    assert 0 < retry_after("Fri, 01 Jan 2100 00:00:00 GMT") <= http_retry.HTTP_MAX_DELAY
