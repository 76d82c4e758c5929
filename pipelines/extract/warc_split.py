"""Cut WARC files into record ranges at record boundaries, so one large file is several Dask tasks.

Per-record gzip (Common Crawl's layout) is split at gzip member starts; an uncompressed WARC at
``WARC/`` version lines (an ARC file at its record lines). A candidate boundary is accepted only
if a record header really starts there. Whole-file gzip (or bz2, xz, zstd) has no inner boundaries and stays one
partition.
"""

from __future__ import annotations

import re
import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_LINE = re.compile(
    rb"(?:\r?\n)(WARC/(?:1\.[01]|0\.1[78])\r?\n"
    # ARC v1 record line: URL IP-address 14-digit-date content-type length
    rb"|(?:(?:https?|ftp|filedesc)://|dns:)\S+ [0-9.]+ \d{14} \S+ \d+\r?\n)"
)
_ARC_LINE = re.compile(rb"(?:(?:https?|ftp|filedesc)://|dns:)\S+ [0-9.]+ \d{14} \S+ \d+\r?\n")
WINDOW = 1 << 20  # bytes scanned per step when looking for the next boundary


def is_gzip(head: bytes) -> bool:
    return head.startswith(GZIP_MAGIC[:2])


def _valid_gzip_member(f: BinaryIO, pos: int) -> bool:
    f.seek(pos)
    data = f.read(1 << 16)
    try:
        out = zlib.decompressobj(wbits=31).decompress(data, 64)
    except zlib.error:
        return False
    return out.startswith((b"WARC/", b"filedesc://")) or (out[:1].isalnum() and b" " in out[:200])


def _valid_warc_header(f: BinaryIO, pos: int) -> bool:
    f.seek(pos)
    head = f.read(8192)
    if _ARC_LINE.match(head):
        return True
    end = head.find(b"\r\n\r\n")
    block = head if end < 0 else head[:end]
    return head.startswith(b"WARC/") and b"WARC-Type:" in block and b"Content-Length:" in block.title()


def next_boundary(f: BinaryIO, start: int, size: int, gz: bool) -> int | None:
    """The first verified record boundary at or after ``start`` (None if there is none before ``size``)."""
    pos = start
    while pos < size:
        f.seek(pos)
        buf = f.read(WINDOW + 64)
        if not buf:
            return None
        if gz:
            i = buf.find(GZIP_MAGIC)
            while 0 <= i < WINDOW:
                if _valid_gzip_member(f, pos + i):
                    return pos + i
                i = buf.find(GZIP_MAGIC, i + 1)
        else:
            if pos == start and buf.startswith((b"WARC/", b"http", b"dns:", b"ftp:", b"filedesc:")) \
                    and _valid_warc_header(f, pos):
                return pos
            for m in _WARC_LINE.finditer(buf):
                if m.start(1) >= WINDOW:
                    break
                if _valid_warc_header(f, pos + m.start(1)):
                    return pos + m.start(1)
        pos += WINDOW
    return None


def split_points(f: BinaryIO, size: int, target_bytes: int) -> list[tuple[int, int | None]]:
    """Byte ranges ``[start, end)`` of roughly ``target_bytes`` each, every start a record boundary."""
    if size <= target_bytes:
        return [(0, None)]
    f.seek(0)
    head = f.read(6)
    if head.startswith((b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")):
        return [(0, None)]  # one bz2 / xz / zstd stream: no inner boundaries
    gz = is_gzip(head)
    starts = [0]
    nominal = target_bytes
    while nominal < size:
        b = next_boundary(f, max(nominal, starts[-1] + 1), size, gz)
        if b is None:
            break
        if b > starts[-1]:
            starts.append(b)
        nominal = b + target_bytes
    ends: list[int | None] = [*starts[1:], None]
    return list(zip(starts, ends, strict=True))
