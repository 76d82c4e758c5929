"""A snapshot's ``warc.paths.gz`` (90,000 entries, as CC-MAIN-2024-22 lists) is planned from the listing alone
(issue #21, item 3): one read of the listing, no request per WARC from the client."""

from __future__ import annotations

import gzip

import fsspec
import fsspec.implementations.http
import pytest

from corpus_forge.io import expand_inputs

N = 90_000


@pytest.fixture
def block_http():
    """Make the given HTTPFileSystem methods raise, and put the class back as it was afterwards: a name it only
    inherits is deleted again (monkeypatch would leave the inherited function set on the class, and fsspec
    then makes no sync wrapper for its async twin, which broke every later http read in the session), and
    instances cached meanwhile are dropped."""
    cls = fsspec.implementations.http.HTTPFileSystem
    saved = {}

    def no_request(*args, **kwargs):
        raise AssertionError("the client asked the store about a listed WARC")

    def block(*names: str) -> None:
        for name in names:
            saved.setdefault(name, vars(cls).get(name, _ABSENT))
            setattr(cls, name, no_request)

    yield block
    for name, old in saved.items():
        if old is _ABSENT:
            delattr(cls, name)
        else:
            setattr(cls, name, old)
    cls.clear_instance_cache()


_ABSENT = object()


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    """Relative lines shaped like Common Crawl's: crawl-data/CC-MAIN-…/segments/<seg>/warc/CC-MAIN-…-<n>.warc.gz."""
    path = tmp_path_factory.mktemp("cc") / "warc.paths.gz"
    lines = [f"crawl-data/CC-MAIN-2024-22/segments/1715971{i // 800:06d}.{i % 97}/warc/"
             f"CC-MAIN-20240517-{i:05d}.warc.gz" for i in range(N)]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    return path, lines


def test_a_90k_listing_becomes_90k_urls_from_one_read(listing, monkeypatch, block_http):
    path, lines = listing
    opened: list[str] = []
    real_open = fsspec.open
    monkeypatch.setattr(fsspec, "open", lambda url, *a, **k: opened.append(str(url)) or real_open(url, *a, **k))

    block_http("exists", "info", "size", "isdir", "open")  # nothing about any entry is looked up
    urls = expand_inputs([str(path)])
    assert opened == [str(path)]
    assert len(urls) == N == len(set(urls))
    assert urls[0] == "https://data.commoncrawl.org/" + lines[0]
    assert urls[-1] == "https://data.commoncrawl.org/" + lines[-1]  # in the listing's order


def test_extract_plans_a_90k_listing_without_opening_a_warc(listing, monkeypatch, block_http):
    from pipelines.extract import ExtractStage

    path, _ = listing
    opened: list[str] = []
    real_open = fsspec.open
    monkeypatch.setattr(fsspec, "open", lambda url, *a, **k: opened.append(str(url)) or real_open(url, *a, **k))

    block_http("exists", "info", "size", "isdir", "open", "_info", "_exists", "_open")
    parts = ExtractStage().partitions([str(path)])
    assert opened == [str(path)]
    assert len(parts) == N and len({p.key for p in parts}) == N  # one task per WARC whose size no listing gave
