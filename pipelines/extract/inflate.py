"""Whole-file-compressed archives read as a bounded stream (one gzip member holding every record, bz2, xz, zstd).

:class:`Inflated` is a seekable stream of the decompressed bytes that holds at most ~2 MiB whatever the
compression ratio, and raises :class:`DecompressionCapExceeded` past a per-file or per-record cap (a
decompression bomb is counted, not followed). :func:`is_member_gzip` tells Common Crawl's per-record gzip
(many members, each its own record, split and read directly) from one member holding the whole file.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from pipelines.extract.warc_split import GZIP_MAGIC

MEMBER_SCAN_BYTES = 64 << 20  # decompressed bytes of the first gzip member looked at to tell the layouts apart


def is_member_gzip(f: BinaryIO) -> bool:
    """True when the first gzip member ends before the file does (Common Crawl's per-record gzip).

    Looks at most :data:`MEMBER_SCAN_BYTES` of the first member's output, in bounded pieces: a member that
    has not ended by then, or is cut short, is read as whole-file gzip (the streaming reader also reads
    several members and stops cleanly at damage).
    """
    f.seek(0)
    d = zlib.decompressobj(wbits=31)
    produced = 0
    data = b""
    try:
        while not d.eof:
            if not data:
                data = f.read(1 << 16)
                if not data:
                    return False  # truncated single member
            produced += len(d.decompress(data, 1 << 20))
            data = d.unconsumed_tail
            if produced > MEMBER_SCAN_BYTES:
                return False
    except zlib.error:
        return True  # a broken first member: the record reader counts it and resynchronises
    more = d.unused_data or f.read(3)
    f.seek(0)
    return bool(more) and more.startswith(GZIP_MAGIC[:2])


class DecompressionCapExceeded(Exception):
    """A whole-file-compressed WARC inflated past a cap; ``reason`` is the removal reason to count."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.counted = False  # set once the record it cut is counted


_OUT_PIECE = 1 << 18  # decompressed bytes produced per step (bounded whatever the compression ratio)
_KEEP = (1 << 21) + (1 << 16)  # decompressed bytes kept behind the read position, for short backward seeks


def _inflate_pieces(raw: BinaryIO, kind: str) -> Iterator[bytes]:
    """The decompressed bytes of ``raw`` in pieces of at most :data:`_OUT_PIECE`; every stream / member in a
    row (trailing garbage after the last is ignored). Raises EOFError when the data ends inside a stream."""
    if kind == "gz":
        d = zlib.decompressobj(wbits=31)
        data = b""
        while True:
            if d.eof:
                data = d.unused_data
                if len(data) < 2:
                    data += raw.read(1 << 16)
                if not data.startswith(GZIP_MAGIC[:2]):
                    return  # end of file, or trailing zeros / garbage
                d = zlib.decompressobj(wbits=31)
                continue
            if not data:
                data = raw.read(1 << 16)
                if not data:
                    raise EOFError("gzip stream ends inside a member")
            out = d.decompress(data, _OUT_PIECE)
            data = d.unconsumed_tail
            if out:
                yield out
    if kind in ("bz2", "xz"):
        import bz2
        import lzma

        reader: Any = bz2.BZ2File(raw) if kind == "bz2" else lzma.LZMAFile(raw)
    else:
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    while out := reader.read(_OUT_PIECE):
        yield out


def _inflate_errors() -> tuple[type[BaseException], ...]:
    import lzma

    errs: list[type[BaseException]] = [zlib.error, EOFError, OSError, lzma.LZMAError, ValueError]
    try:
        import zstandard

        errs.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errs)


class Inflated(io.RawIOBase):
    """A whole-file-compressed archive as a readable, seekable stream of its decompressed bytes.

    Memory is bounded: output is produced in pieces of at most 256 KiB and only the last ~2 MiB before the
    read position are kept (backward seeks within them are free; further back, decompression restarts
    from the file's start). Damaged or cut data ends the stream there (``damaged`` says why; the record
    reader counts the cut record). Caps, raised as :class:`DecompressionCapExceeded`: more than
    ``max_file_bytes`` in all, or more than ``max_record_bytes`` since the last :meth:`mark_record`.
    ``tell()`` is the decompressed position, as warcio reports offsets.
    """

    def __init__(self, raw: BinaryIO, kind: str, max_file_bytes: int, max_record_bytes: int) -> None:
        super().__init__()
        self.raw, self.kind = raw, kind
        self.max_file_bytes, self.max_record_bytes = max_file_bytes, max_record_bytes
        self.damaged: str | None = None
        self._errors = _inflate_errors()
        self._restart()

    def _restart(self) -> None:
        self.raw.seek(0)
        self._pieces = _inflate_pieces(self.raw, self.kind)
        self._buf = bytearray()
        self._buf_start = 0  # decompressed offset of _buf[0]
        self._pos = 0
        self._done = False
        self._record_start = 0

    def _fill(self) -> bool:
        """Decompress one more piece; False at the end of the data."""
        if self._done:
            return False
        try:
            piece = next(self._pieces)
        except StopIteration:
            self._done = True
            return False
        except self._errors as err:
            self._done = True
            self.damaged = f"{type(err).__name__}: {err}"
            return False
        end = self._buf_start + len(self._buf) + len(piece)
        if end > self.max_file_bytes:
            self._done = True
            raise DecompressionCapExceeded(
                "file_too_large", f"inflates past max_file_bytes={self.max_file_bytes:,} (read stopped there)")
        if end - self._record_start > self.max_record_bytes:
            self._done = True
            raise DecompressionCapExceeded(
                "too_large", f"a record near decompressed offset {self._record_start:,} inflates past "
                             f"max_record_bytes={self.max_record_bytes:,} (read stopped there)")
        self._buf += piece
        drop = self._pos - _KEEP - self._buf_start
        if drop > _KEEP:  # amortised: trim in large steps
            drop = min(drop, len(self._buf))
            del self._buf[:drop]
            self._buf_start += drop
        return True

    def mark_record(self) -> None:
        """A record starts about here: the per-record cap counts from this position."""
        self._record_start = self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._pos
        elif whence != 0:
            raise io.UnsupportedOperation("Inflated streams seek from the start or the current position only")
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        if offset < self._buf_start:
            self._restart()
        self._pos = self._record_start = offset
        return offset

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            chunks = []
            while chunk := self.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        while self._buf_start + len(self._buf) < self._pos + n and self._fill():
            pass
        i = self._pos - self._buf_start
        out = bytes(self._buf[i : i + n]) if i >= 0 else b""
        self._pos += len(out)
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
