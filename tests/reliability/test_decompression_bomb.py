"""Whole-file-compressed WARCs are read as a stream: memory stays bounded whatever the compression ratio, and
decompressed bytes are capped per record and per file, each cap counted under a reason (issue #14, item 4)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.extract import ExtractConfig, ExtractStage

ROOT = Path(__file__).resolve().parents[2]
PAGE = (b"<html><head><title>After the bomb</title></head><body><article><h1>After the bomb</h1>"
        b"<p>This page follows a record that inflates to hundreds of megabytes; it is still read, "
        b"because the reader streams the decompressed file instead of holding it in memory.</p>"
        b"</article></body></html>")


def _record(uri: str, n: int, rid: str) -> bytes:
    return (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-05-18T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{rid}>\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {n}\r\n\r\n").encode()


def write_bomb(path: Path, payload_mib: int) -> Path:
    """A whole-file-gzip WARC (ONE gzip member for all records, written by streaming, so this test stays
    small in memory): a 200 text/html response whose payload is ``payload_mib`` MiB of one repeated byte
    (a ~1 MB file), then an ordinary page."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    block = b"a" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as g:
        g.write(_record("http://bomb.example/", len(http) + payload_mib * len(block),
                        "00000000-0000-0000-0000-00000000b0b1"))
        g.write(http)
        for _ in range(payload_mib):
            g.write(block)
        g.write(b"\r\n\r\n")
        g.write(_record("http://after.example/", len(http) + len(PAGE), "00000000-0000-0000-0000-0000000000a2"))
        g.write(http + PAGE + b"\r\n\r\n")
    return path


_MEASURE = r"""
import json, resource, sys
from pipelines.extract import ExtractConfig, ExtractStage
stage = ExtractStage(ExtractConfig(**json.loads(sys.argv[2])))
for warm in stage.partitions([sys.argv[3]]):  # a real whole-file gzip first: imports and buffers warmed up
    stage.process(warm)
(part,) = stage.partitions([sys.argv[1]])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
res = stage.process(part)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mib": (after - before) / 1024, "removed": dict(res.counters.removed),
                  "errors": dict(res.counters.errors), "in": res.counters.documents_in,
                  "urls": res.kept.column("url").to_pylist()}))
"""


def _measure(path: Path, **cfg) -> dict:
    warm = Path(__file__).resolve().parents[1] / "data" / "warc" / "cc2015-whole-file-gzip.warc.gz"
    r = subprocess.run([sys.executable, "-c", _MEASURE, str(path), json.dumps(cfg), str(warm)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_whole_file_gzip_bomb_is_streamed_in_bounded_memory(tmp_path):
    bomb = write_bomb(tmp_path / "bomb.warc.gz", 320)
    assert bomb.stat().st_size < 4 << 20  # ~1,000x: a small file, a 320 MiB record
    got = _measure(bomb)
    # the bomb's payload is over max_html_bytes: too_large; the page after it is still read
    assert got["removed"] == {"too_large": 1} and got["in"] == 2
    assert got["urls"] == ["http://after.example/"]
    # inflating into memory costs >= 320 MiB (the old reader: +642 MiB); streaming: a few MiB (measured +1-5)
    assert got["growth_mib"] < 64, got


def _run(path: Path, **cfg):
    stage = ExtractStage(ExtractConfig(**cfg))
    (part,) = stage.partitions([str(path)])
    res = stage.process(part)
    res.counters.documents_out = res.kept.num_rows
    res.counters.check()
    return res


def test_per_file_cap_cuts_the_file_and_counts_it(tmp_path):
    bomb = write_bomb(tmp_path / "bomb.warc.gz", 96)
    res = _run(bomb, max_file_bytes=32 << 20)
    c = res.counters
    # the record being read when the file passed 32 MiB is counted under the file-level reason; reading
    # stops there (what follows cannot be reached without inflating the rest)
    assert c.documents_in == 1 and dict(c.removed) == {"file_too_large": 1}
    assert dict(c.errors) == {"decompression_capped": 1}
    assert res.kept.num_rows == 0
    assert str(bomb) in c.extra["decompression_capped"][0]
    assert res.removed.column("reason").to_pylist() == ["file_too_large"]


def test_per_record_cap_counts_too_large(tmp_path):
    bomb = write_bomb(tmp_path / "bomb.warc.gz", 96)
    res = _run(bomb, max_record_bytes=16 << 20)
    c = res.counters
    assert c.documents_in == 1 and dict(c.removed) == {"too_large": 1}
    assert dict(c.errors) == {"decompression_capped": 1}
    assert "max_record_bytes" in c.extra["decompression_capped"][0]


def test_caps_are_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ExtractConfig(max_file_bytes=0)
    with pytest.raises(ValidationError):
        ExtractConfig(max_record_bytes=-1)


def test_whole_file_gzip_real_file_unchanged(data_dir):
    """The real whole-file-gzip WARC (CC-MAIN-2015-11) reads as before through the streaming reader."""
    res = _run(data_dir / "warc" / "cc2015-whole-file-gzip.warc.gz")
    assert res.counters.documents_in == 14 and res.kept.num_rows == 4
    assert dict(res.counters.removed) == {"not_response": 10}
    assert res.counters.extra["whole_file_gzip"] == 1


def test_truncated_whole_file_gzip_keeps_what_it_read(data_dir, tmp_path):
    """Cut a whole-file gzip in the middle: the records before the cut are read, the cut one is counted."""
    raw = (data_dir / "warc" / "cc2015-whole-file-gzip.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    whole = _run(data_dir / "warc" / "cc2015-whole-file-gzip.warc.gz")
    res = _run(cut)
    assert 0 < res.counters.documents_in <= whole.counters.documents_in
    assert res.counters.removed["truncated_record"] + res.counters.removed["corrupt_record"] >= 1


@pytest.mark.parametrize("kind", ["bz2", "xz", "zst"])
def test_other_whole_file_compressions_are_streamed_too(data_dir, tmp_path, kind):
    """The same real WARC recompressed as one bz2 / xz / zstd stream reads to the same documents."""
    import bz2
    import lzma

    import zstandard

    plain = gzip.decompress((data_dir / "warc" / "cc2015-whole-file-gzip.warc.gz").read_bytes())
    pack = {"bz2": bz2.compress, "xz": lzma.compress, "zst": lambda b: zstandard.ZstdCompressor().compress(b)}
    path = tmp_path / f"cc2015.warc.{kind}"
    path.write_bytes(pack[kind](plain))
    gz = _run(data_dir / "warc" / "cc2015-whole-file-gzip.warc.gz")
    res = _run(path)
    assert res.counters.extra[f"whole_file_{kind}"] == 1
    assert dict(res.counters.removed) == dict(gz.counters.removed)
    assert res.kept.column("text").to_pylist() == gz.kept.column("text").to_pylist()
