"""The extract stage on real WARC/WET/ARC files and their edge cases (tests/data/warc, see SOURCES.md).

Expected counts come from the files themselves, checked by hand with ``zcat | grep``:
``grep -c '^WARC-Type:'`` gives the records, ``grep -o '^HTTP/1.[01] [0-9]*'`` the statuses and
``grep -i '^Content-Type:'`` the payload types. Every record read must be a document or a reason.
"""

from __future__ import annotations

from collections import Counter

import pytest

from corpus_forge.stats import Counters
from pipelines.extract import ExtractConfig, ExtractStage


def run_file(path, **cfg) -> tuple[Counters, list]:
    stage = ExtractStage(ExtractConfig(**cfg))
    total, tables = Counters(), []
    for part in stage.partitions([str(path)]):
        res = stage.process(part)
        res.counters.documents_out = res.kept.num_rows
        res.counters.check(part.key)  # the accounting invariant, per partition
        total = total.merge(res.counters)
        tables.append(res.kept)
    total.check()
    return total, tables


# file, records in, documents out, removed per reason — each row explained
CASES = [
    # CC-MAIN-2024-22 excerpt: warcinfo, request, response (200 text/html), metadata
    ("whirlwind.warc.gz", 4, 1, {"not_response": 3}),
    # its WET: warcinfo + one 'conversion' record, which is already text
    ("whirlwind.warc.wet.gz", 2, 1, {"not_response": 1}),
    # its WAT: warcinfo + metadata (JSON), no documents
    ("whirlwind.warc.wat.gz", 2, 0, {"not_response": 2}),
    # CC-MAIN-2020-34: 1 warcinfo, 17 request, 16 metadata, 16 response all 200 text/html
    ("warcfile.warc.gz", 50, 16, {"not_response": 34}),
    # ClueWeb09 (Japanese, EUC-JP declared), Nutch quirks: warcinfo + 29 responses, all 200 HTML
    ("clueweb-quirk.warc.gz", 30, 29, {"not_response": 1}),
    # one response whose gzip stream is cut: fewer bytes than its Content-Length
    ("clipped.warc.gz", 1, 0, {"truncated_record": 1}),
    # three records of WARC-Type 'unknown' sized at buffer boundaries
    ("block-sized-records.warc.gz", 3, 0, {"not_response": 3}),
    # wget 1.21 crawl: warcinfo, 15 request, 15 response (200 HTML), metadata, 2 resource (logs)
    ("sample-0001.warc.gz", 34, 15, {"not_response": 19}),
    # wget 1.14 of archive.org: 16 req + 3 resource + warcinfo; 16 responses: 2×301 + 7×302,
    # and of the seven 200s, 5 are text/plain or other non-HTML types
    ("IAH-urls-wget.warc.gz", 36, 2, {"not_response": 20, "http_status": 9, "not_html": 5}),
    # warcio's POST test: 3 request + 3 response carrying application/json
    ("post-test.warc.gz", 6, 0, {"not_response": 3, "not_html": 3}),
    # chunked transfer-encoding decoded by warcio: warcinfo, request, response
    ("example-iana.org-chunked.warc", 3, 1, {"not_response": 2}),
    # broken chunked encoding: the response ends early, and the next header is garbage
    ("example-wrong-chunks.warc.gz", 2, 0, {"truncated_record": 1, "corrupt_record": 1}),
    # ARC v1 (converted by warcio): filedesc header + one 200 HTML response
    ("example.arc.gz", 2, 1, {"not_response": 1}),
    # Internet Archive ARC, cut short: filedesc, a dns: record, robots.txt, two HTML pages, then images
    # and an RSS feed whose record lines follow binary payloads with no newline (9 record lines, found
    # by hand with a regex over the bytes); warcio loses the line after each such payload and reading
    # resumes at the next record line
    ("IAH-20080430204825-00000-blackbook-truncated.arc", 9, 2, {"not_response": 2, "not_html": 5}),
    # CC-MAIN-2015-11 gzipped as ONE member (not per record): 1 warcinfo, 5 req, 4 resp, 4 metadata
    ("cc2015-whole-file-gzip.warc.gz", 14, 4, {"not_response": 10}),
    # ClueWeb09 WARC/0.18, records not separated by blank lines: 24 records (grep -c '^WARC/0.18'),
    # warcinfo + 23 responses; reading resumes at each next record after warcio loses the separator
    ("clueweb-09-sample-en0000-sample-00.warc", 24, 23, {"not_response": 1}),
    # warcio's torture file for fields: 3 readable records, then an invalid header
    ("standard-torture-validate-field.warc", 4, 0, {"not_response": 3, "corrupt_record": 1}),
    # torture file for records: 17 records (grep -c '^WARC-Type:'): 15 of other types, one 'response'
    # whose block is text/plain rather than an HTTP message, and one empty 'conversion'
    ("standard-torture-validate-record.warc", 17, 0, {"not_response": 16, "extract_empty": 1}),
    # gzip of the two bytes "hi": no WARC inside
    ("hi.gz", 1, 0, {"corrupt_record": 1}),
    # two gzip members that fail to inflate: two unreadable stretches
    ("double-single-inflate-error.gz", 2, 0, {"corrupt_record": 2}),
]


@pytest.mark.parametrize(("name", "n_in", "n_out", "removed"), CASES, ids=[c[0] for c in CASES])
def test_real_file_counts(data_dir, name, n_in, n_out, removed):
    counters, tables = run_file(data_dir / "warc" / name)
    assert counters.documents_in == n_in
    assert sum(t.num_rows for t in tables) == n_out
    assert dict(counters.removed) == removed


def test_documents_have_contract_columns_and_real_text(data_dir):
    _, tables = run_file(data_dir / "warc" / "whirlwind.warc.gz")
    (t,) = tables
    row = t.to_pylist()[0]
    assert t.column_names[:4] == ["id", "text", "url", "source"]
    assert row["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert "Escopete" in row["text"]
    assert row["source"] == "cc-warc"
    assert row["crawl_date"].startswith("2024-05")
    assert row["content_type"] == "text/html" and row["charset"] == "utf-8"
    assert row["warc_record_id"].startswith("<urn:uuid:")


def test_ids_are_stable_across_runs_and_unique(data_dir):
    a = run_file(data_dir / "warc" / "warcfile.warc.gz")[1][0].column("id").to_pylist()
    b = run_file(data_dir / "warc" / "warcfile.warc.gz")[1][0].column("id").to_pylist()
    assert a == b and len(set(a)) == len(a)


def test_euc_jp_pages_are_decoded_by_declared_charset(data_dir):
    _counters, tables = run_file(data_dir / "warc" / "clueweb-quirk.warc.gz")
    charsets = Counter(tables[0].column("charset").to_pylist())
    assert charsets == {"euc_jp": 29}
    # real Japanese text came out, not mojibake
    assert any(any("\u3040" <= ch <= "\u30ff" for ch in t) for t in tables[0].column("text").to_pylist())


def test_large_file_split_into_ranges_gives_the_same_documents(data_dir):
    for name in ("warcfile.warc.gz", "clueweb-09-sample-en0000-sample-00.warc"):
        path = data_dir / "warc" / name
        whole_stage = ExtractStage(ExtractConfig())
        split_stage = ExtractStage(ExtractConfig(split_bytes=30_000))
        assert len(whole_stage.partitions([str(path)])) == 1
        parts = split_stage.partitions([str(path)])
        assert len(parts) >= 4
        whole, whole_tables = run_file(path)
        split, split_tables = run_file(path, split_bytes=30_000)
        assert whole.documents_in == split.documents_in and whole.removed == split.removed
        key = lambda tables: sorted((r["id"], r["text"]) for t in tables for r in t.to_pylist())  # noqa: E731
        assert key(whole_tables) == key(split_tables)


def test_too_large_pages_are_counted(data_dir):
    counters, _ = run_file(data_dir / "warc" / "warcfile.warc.gz", max_html_bytes=20_000)
    assert counters.removed["too_large"] > 0
    assert counters.documents_in == 50


def test_not_a_warc_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("these are not the records you are looking for\n" * 10)
    stage = ExtractStage()
    (part,) = stage.partitions([str(bad)])
    with pytest.raises(ValueError, match="not a WARC, WET or ARC file"):
        stage.process(part)


def test_binary_payload_declared_as_html_is_counted(data_dir, tmp_path):
    """A server that labels a binary file text/html: counted as binary_content, not fed to trafilatura."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    binary = (data_dir / "warc" / "double-single-inflate-error.gz").read_bytes()  # real gzip bytes
    path = tmp_path / "mislabelled.warc.gz"
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record("https://example.org/file", "response",
                                           payload=io.BytesIO(binary), http_headers=http))
    counters, _ = run_file(path)
    assert counters.documents_in == 1 and dict(counters.removed) == {"binary_content": 1}
