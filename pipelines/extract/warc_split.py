"""Cut WARC files into record ranges, so one large file is several Dask tasks, without opening it on the client.

The client cuts a file into nominal byte ranges from its listed size (:func:`nominal_ranges`); each task then
finds the records its range owns (:func:`owned_range`): from the first record boundary at or after its start to
the first at or after its end. Per-record gzip (Common Crawl's layout) has boundaries at gzip member starts; an
uncompressed WARC at ``WARC/`` version lines (an ARC file at its record lines). A candidate boundary is accepted
only if a record header really starts there. Whole-file gzip (or bz2, xz, zstd) has no inner boundaries: the
range at 0 reads the whole stream and the others own nothing.
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


def nominal_ranges(size: int | None, target_bytes: int) -> list[tuple[int, int | None]]:
    """Byte ranges ``[start, end)`` of ``target_bytes`` each over a file of ``size`` bytes (the last open-ended);
    one range when the size is unknown or small. Found without opening the file: each task moves its own start
    and end to the next record boundary (:func:`owned_range`)."""
    if size is None or size <= target_bytes:
        return [(0, None)]
    starts = list(range(0, size, target_bytes))
    return [(s, s + target_bytes) for s in starts[:-1]] + [(starts[-1], None)]


def owned_range(f: BinaryIO, start: int, end: int | None, size: int, gz: bool) -> tuple[int, int]:
    """The records a nominal range ``[start, end)`` owns: those starting from the first verified boundary at or
    after ``start`` (0 for the file's first range) up to the first one at or after ``end`` (the next range's
    start, found by the same rule, so neighbouring ranges meet exactly). ``(pos, pos)`` when it owns none."""
    last = size if end is None or end >= size else next_boundary(f, end, size, gz)
    last = size if last is None else last
    first = 0 if start == 0 else next_boundary(f, start, size, gz)
    first = last if first is None or first > last else first
    return first, last
