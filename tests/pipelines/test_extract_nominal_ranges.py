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

    monkeypatch.setattr(extract, "listed_size", lambda path, folders=None: None)  # as for a *.paths line, a URL
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


def test_planning_reads_each_folders_listing_once_not_once_per_file(s3_bucket, monkeypatch):
    """90,000 WARCs in one prefix: each file's size comes from a {name: size} map built once per folder, not
    from a scan of the folder's whole cached listing per file (90k x 90k comparisons)."""
    import math

    import pipelines.extract as extract

    fs = fsspec.filesystem("s3")
    sizes = {f"{s3_bucket}/{d}/f{k:03d}.warc.gz": 500 * k + 7 * (d == "b") for d in "ab" for k in range(1, 31)}
    fs.pipe({path: b"w" * n for path, n in sizes.items()})
    fs.invalidate_cache()
    files = extract.expand_inputs([f"{s3_bucket}/a/*.warc.gz", f"{s3_bucket}/b/*.warc.gz"])
    assert len(files) == 60
    monkeypatch.setattr(extract, "expand_inputs", lambda inputs, prefix: files)  # the listings are cached now
    lookups = []
    real = type(fs)._ls_from_cache

    def counted(self, path):
        lookups.append(path)
        return real(self, path)

    monkeypatch.setattr(type(fs), "_ls_from_cache", counted)
    parts = ExtractStage(ExtractConfig(split_bytes=1_000)).partitions(["planned above"])
    assert sorted(lookups) == [f"{s3_bucket[5:]}/a", f"{s3_bucket[5:]}/b"]  # once per folder
    # and the sizes are each file's own: ceil(size / split_bytes) ranges per file
    assert len(parts) == sum(math.ceil(n / 1_000) for n in sizes.values())
    folders: dict = {}
    assert {p: extract.listed_size(p, folders) for p in files} == sizes
    assert extract.listed_size(f"{s3_bucket}/a/missing.warc.gz", folders) is None  # no listing knows it
