"""extract cuts large files into nominal byte ranges from their listed sizes, without opening them on the client;
each task finds the records its range owns, so every record is read by exactly one task (#21, scale.md row 1)."""

from __future__ import annotations

import fsspec
import pytest

from corpus_forge.stats import Counters
from pipelines.extract import ExtractConfig, ExtractStage


def run(path, **cfg) -> tuple[Counters, list[tuple], int]:
    stage = ExtractStage(ExtractConfig(**cfg))
    total, docs = Counters(), []
    parts = stage.partitions([str(path)])
    for part in parts:
        res = stage.process(part)
        res.counters.documents_out = res.kept.num_rows
        res.counters.check(part.key)
        total = total.merge(res.counters)
        docs += [(r["id"], r["warc_offset"], r["text"]) for r in res.kept.to_pylist()]
    return total, sorted(docs), len(parts)


def test_the_client_opens_no_file_to_cut_ranges(data_dir, monkeypatch):
    path = data_dir / "warc" / "warcfile.warc.gz"  # 135,896 bytes

    def refuse(*args, **kwargs):
        raise OSError("the client must not open a WARC to plan partitions")

    monkeypatch.setattr(fsspec, "open", refuse)
    parts = ExtractStage(ExtractConfig(split_bytes=30_000)).partitions([str(path)])
    assert [(p.start, p.end) for p in parts] == [(0, 30_000), (30_000, 60_000), (60_000, 90_000),
                                                 (90_000, 120_000), (120_000, None)]


@pytest.mark.parametrize(("name", "split"), [
    ("warcfile.warc.gz", 30_000),  # Common Crawl's per-record gzip
    ("warcfile.warc.gz", 2_000),  # ranges smaller than a record: most own none
    ("clueweb-09-sample-en0000-sample-00.warc", 25_000),  # uncompressed WARC/0.18, separators missing
    ("IAH-20080430204825-00000-blackbook-truncated.arc", 10_000),  # uncompressed ARC
    ("cc2015-whole-file-gzip.warc.gz", 5_000),  # one gzip member: the range at 0 reads it all
])
def test_ranges_give_the_documents_and_counts_of_the_whole_file(data_dir, name, split):
    whole, whole_docs, n_whole = run(data_dir / "warc" / name)
    ranged, ranged_docs, n_ranged = run(data_dir / "warc" / name, split_bytes=split)
    assert n_whole == 1 and n_ranged > 3
    assert ranged_docs == whole_docs and whole_docs
    assert (ranged.documents_in, ranged.removed) == (whole.documents_in, whole.removed)


def test_a_file_of_unknown_size_is_one_task(data_dir, monkeypatch):
    import pipelines.extract as extract

    monkeypatch.setattr(extract, "listed_size", lambda path: None)  # as for a *.paths line or an http URL
    parts = ExtractStage(ExtractConfig(split_bytes=30_000)).partitions([str(data_dir / "warc" / "warcfile.warc.gz")])
    assert [(p.start, p.end) for p in parts] == [(0, None)]


def test_object_store_sizes_come_from_the_listing(data_dir, s3_bucket, monkeypatch):
    """On S3 the sizes come from the listing that expanded the glob: no per-file request, no open."""
    fs = fsspec.filesystem("s3")
    fs.put(str(data_dir / "warc" / "warcfile.warc.gz"), f"{s3_bucket}/crawl/a.warc.gz")
    fs.invalidate_cache()

    def no_request(self, path, **kwargs):
        raise AssertionError(f"a per-file request for {path}")

    monkeypatch.setattr(type(fs), "info", no_request)
    parts = ExtractStage(ExtractConfig(split_bytes=30_000)).partitions([f"{s3_bucket}/crawl/*.warc.gz"])
    assert [(p.start, p.end) for p in parts][:2] == [(0, 30_000), (30_000, 60_000)] and len(parts) == 5
