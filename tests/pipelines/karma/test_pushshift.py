"""The Pushshift reader on the real dumps: both schemas, every compression, and bad input counted."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from pathlib import Path

import pytest
import zstandard

from pipelines.karma.pushshift import ReadReport, as_int, decode_block, iter_line_blocks, read_submissions, reddit_url

DATA = Path(__file__).parents[2] / "data" / "karma"
RS_06 = DATA / "RS_v2_2005-06.xz"
RS_07 = DATA / "RS_v2_2005-07.xz"
RS_2024 = DATA / "test_submissions.json"


def raw_lines(path: Path) -> list[bytes]:
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as f:
        return [ln for ln in f.read().split(b"\n") if ln.strip()]


def zstd_bytes(data: bytes, window_log: int | None = None) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log or 0, enable_ldm=bool(window_log))
    buf = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(buf, closefd=False) as w:
        w.write(data)
    return buf.getvalue()


def read_all(path: Path | str, **kw) -> tuple[list, ReadReport]:
    report = ReadReport(str(path))
    subs = list(read_submissions(str(path), report, **kw))
    return subs, report


def test_real_2005_dumps_parse_completely() -> None:
    """SOURCES: 103 submissions in June 2005, 1,079 in July, 757 of July's with score >= 3."""
    june, rj = read_all(RS_06)
    july, rjul = read_all(RS_07)
    assert (len(june), rj.lines, rj.malformed, rj.format, rj.truncated) == (103, 103, 0, "xz", False)
    assert (len(july), rjul.malformed) == (1079, 0)
    assert sum(as_int(s.score) >= 3 for s in july) == 757
    assert all(type(s.created_utc) is int for s in june + july)
    first = json.loads(raw_lines(RS_06)[0])
    assert (june[0].url, june[0].score, june[0].subreddit) == (first["url"], first["score"], first["subreddit"])


def test_2024_schema_parses_with_mixed_created_utc_types() -> None:
    """The 2024-format sample mixes float, string and int ``created_utc`` (counted with plain json)."""
    subs, report = read_all(RS_2024)
    expected = [json.loads(ln) for ln in raw_lines(RS_2024)]
    assert len(subs) == len(expected) == 31 and report.malformed == 0
    kinds = {type(e["created_utc"]).__name__ for e in expected}
    assert kinds == {"float", "str", "int"}
    assert [as_int(s.created_utc) for s in subs] == [int(float(e["created_utc"])) for e in expected]
    assert [s.is_self for s in subs] == [e["is_self"] for e in expected]
    assert [s.over_18 for s in subs] == [e["over_18"] for e in expected]
    assert sum(as_int(s.score) >= 3 for s in subs) == 8  # SOURCES: 8 with score >= 3


def test_missing_fields_are_none_not_errors() -> None:
    line = b'{"url": "http://example.com/a", "title": "no score, no created_utc, no subreddit"}'
    subs, report = read_all_bytes(line + b"\n")
    assert report.malformed == 0
    s = subs[0]
    assert (s.url, s.score, s.created_utc, s.subreddit, s.is_self, s.over_18) == (
        "http://example.com/a", None, None, None, None, None)


def read_all_bytes(data: bytes, tmp: Path | None = None) -> tuple[list, ReadReport]:
    import tempfile

    d = Path(tmp or tempfile.mkdtemp())
    p = d / "dump"
    p.write_bytes(data)
    return read_all(p)


@pytest.mark.parametrize("fmt", ["zst", "xz", "bz2", "gz", "ndjson"])
def test_every_compression_reads_the_same_submissions(tmp_path: Path, fmt: str) -> None:
    plain = lzma.open(RS_06).read()
    data = {"zst": zstd_bytes, "xz": lzma.compress, "bz2": bz2.compress, "gz": gzip.compress,
            "ndjson": lambda b: b}[fmt](plain)
    path = tmp_path / "RS_2005-06"  # no extension: the format comes from the magic bytes
    path.write_bytes(data)
    subs, report = read_all(path)
    assert report.format == fmt
    assert (len(subs), report.malformed, report.truncated, report.error) == (103, 0, False, None)
    assert [s.url for s in subs] == [json.loads(ln)["url"] for ln in raw_lines(RS_06)]


def test_zstd_with_a_2gib_window_needs_and_gets_the_large_window(tmp_path: Path) -> None:
    """Pushshift's zstd dumps use --long=31; the default decoder limit (2^27) refuses such frames."""
    data = zstd_bytes(lzma.open(RS_06).read(), window_log=28)
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().decompressobj().decompress(data)
    path = tmp_path / "RS_2005-06.zst"
    path.write_bytes(data)
    subs, report = read_all(path)
    assert len(subs) == 103 and report.error is None


def test_concatenated_zstd_frames_are_all_read(tmp_path: Path) -> None:
    path = tmp_path / "two-frames.zst"
    path.write_bytes(zstd_bytes(lzma.open(RS_06).read()) + zstd_bytes(lzma.open(RS_07).read()))
    subs, report = read_all(path)
    assert len(subs) == 103 + 1079 and not report.truncated


def test_malformed_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    lines = raw_lines(RS_06)
    bad = [b"{not json", lines[5][: len(lines[5]) // 2], b"[1, 2, 3]", b'"a string"', b"\xff\xfe garbage"]
    mixed = lines[:10] + bad + lines[10:]
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join(mixed) + b"\n\n   \n")  # blank lines are not counted at all
    subs, report = read_all(path)
    assert (len(subs), report.lines, report.malformed) == (103, 108, 5)
    assert report.malformed_examples[0] == "{not json"


def test_unexpected_field_types_fall_back_to_lenient_decoding(tmp_path: Path) -> None:
    line = b'{"url": "http://example.com/", "score": "12", "is_self": "false", "over_18": 0, "subreddit": 7}'
    subs, report = read_all_bytes(line, tmp_path)
    assert report.malformed == 0
    s = subs[0]
    assert (s.url, as_int(s.score), s.is_self, s.over_18, s.subreddit) == ("http://example.com/", 12, False,
                                                                           False, None)


@pytest.mark.parametrize("fmt", ["zst", "xz", "bz2", "gz"])
def test_truncated_compressed_file_is_counted_not_fatal(tmp_path: Path, fmt: str) -> None:
    plain = lzma.open(RS_07).read()
    data = {"zst": zstd_bytes, "xz": lzma.compress, "bz2": bz2.compress, "gz": gzip.compress}[fmt](plain)
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(data[: len(data) * 9 // 10])  # bz2 decodes whole 900 kB blocks: cut late enough
    subs, report = read_all(path)
    assert report.truncated and report.error is None
    # what was read is a prefix of the real dump; at most the line cut in two is malformed
    expected = [json.loads(ln)["url"] for ln in raw_lines(RS_07)]
    assert 0 < len(subs) < 1079
    assert [s.url for s in subs] == expected[: len(subs)]
    assert report.malformed <= 1
    assert report.lines == len(subs) + report.malformed


def test_corrupt_compressed_data_is_reported_not_raised(tmp_path: Path) -> None:
    data = bytearray(lzma.compress(lzma.open(RS_07).read()))
    at = len(data) * 9 // 10
    data[at : at + 64] = b"\x00" * 64
    path = tmp_path / "corrupt.xz"
    path.write_bytes(bytes(data))
    subs, report = read_all(path)
    assert report.error is not None and "corrupt xz" in report.error
    assert 0 < len(subs) < 1079


def test_unreadable_path_is_reported() -> None:
    subs, report = read_all("/nonexistent/RS_2005-06.zst")
    assert subs == [] and report.error.startswith("unreadable")


def test_small_chunks_split_lines_correctly_and_long_lines_are_skipped(tmp_path: Path) -> None:
    """Bounded memory: 4 KiB reads give the same submissions as 1 MiB reads; a line over the limit is
    counted malformed and reading resumes at the next line."""
    lines = raw_lines(RS_06)
    huge = b'{"url": "http://example.com/", "selftext": "' + b"x" * 50_000 + b'"}'
    path = tmp_path / "long.ndjson"
    path.write_bytes(b"\n".join([*lines[:3], huge, *lines[3:]]) + b"\n")
    big, rb = read_all(path)
    small, rs = read_all(path, chunk_bytes=4096, max_line_bytes=20_000)
    assert len(big) == 104 and rb.malformed == 0
    assert len(small) == 103 and rs.malformed == 1 and rs.lines == 104
    assert [s.url for s in small] == [s.url for s in big if s.url != "http://example.com/"]


def test_line_blocks_never_hold_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "july.ndjson"
    path.write_bytes(lzma.open(RS_07).read())
    report = ReadReport(str(path))
    sizes = []
    for block in iter_line_blocks(str(path), report, chunk_bytes=64 * 1024):
        sizes.append(len(block))
        decode_block(block, report)  # counts the block's lines
    assert len(sizes) > 10 and max(sizes) <= 64 * 1024 + max(map(len, raw_lines(RS_07)))
    assert report.lines == 1079


def test_reddit_html_escaping_is_undone() -> None:
    """The 2005 dumps escape '&' in link URLs as '&amp;' (e.g. the nola.com post in the 2024 sample)."""
    assert reddit_url("http://a.com/x?b=1&amp;c=2") == "http://a.com/x?b=1&c=2"
    assert reddit_url("http://a.com/x?q=&lt;b&gt;") == "http://a.com/x?q=<b>"
    assert reddit_url("http://a.com/plain") == "http://a.com/plain"
    escaped = [json.loads(ln)["url"] for ln in raw_lines(RS_07) if b"&amp;" in ln]
    assert escaped and all("&amp;" not in reddit_url(u) for u in escaped)


def test_as_int_coerces_the_schemas_number_spellings() -> None:
    assert [as_int(v) for v in (3, 3.9, "17", "1706745600.0", None, "abc", float("nan"), [1])] == [
        3, 3, 17, 1706745600, None, None, None, None]


def test_block_decoding_counts_lines_as_the_line_by_line_reader() -> None:
    """``decode_block`` decodes a clean block in one call, but a JSON object spread over lines or two on
    one line must still count as malformed lines, exactly as reading line by line does."""
    from pipelines.karma.pushshift import decode_line

    good = raw_lines(RS_07)[:50]
    blocks = {
        "clean": b"\n".join(good) + b"\n",
        "no final newline": b"\n".join(good),
        "blank lines": b"\n".join(good[:10]) + b"\n\n  \n" + b"\n".join(good[10:]) + b"\n",
        "pretty-printed": (b"\n".join(good[:5]) + b'\n{"url":\n "http://x.example/", "score": 3}\n'
                           + b"\n".join(good[5:])),
        "two on a line": b"\n".join(good[:5]) + b"\n" + good[5] + good[6] + b"\n" + b"\n".join(good[7:]) + b"\n",
        "odd type": b"\n".join(good[:5]) + b'\n{"url": 7, "score": "4"}\n' + b"\n".join(good[5:]) + b"\n",
    }
    for name, block in blocks.items():
        report, ref = ReadReport("b"), ReadReport("r")
        subs = decode_block(block, report)
        lines = [ln for ln in block.split(b"\n") if ln.strip()]
        want = [s for s in map(decode_line, lines) if s is not None]
        ref.lines, ref.malformed = len(lines), len(lines) - len(want)
        assert (report.lines, report.malformed) == (ref.lines, ref.malformed), name
        assert [(s.url, s.score) for s in subs] == [(s.url, s.score) for s in want], name
    assert ReadReport("x").malformed == 0


def test_numbers_beyond_int64_are_not_numbers() -> None:
    assert as_int(2**70) is None and as_int("1e300") is None and as_int(-(2**63)) is None
    assert as_int(2**61) == 2**61 and as_int("12.7") == 12 and as_int(True) is None
