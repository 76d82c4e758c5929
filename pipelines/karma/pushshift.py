"""Streaming reader of Pushshift submission dumps (``RS_*``): compressed NDJSON, one post per line.

- Formats, told by their magic bytes (the extension is not trusted): ``.zst`` (decoded with a 2 GiB
  window, ``max_window_size=2**31``, as the 2019+ dumps need), ``.xz``, ``.bz2``, ``.gz``, plain NDJSON.
- Schemas: the old dumps and the 2024 ones (``_meta``, float ``created_utc``) alike; ``created_utc`` and
  ``score`` may be int, float or string; any field may be missing.
- Bad input is counted, never fatal: a line that is not a JSON object is ``malformed``; a compressed
  stream that ends early is ``truncated`` (the lines before the cut are used); undecodable data is
  ``corrupt``.
- Bounded memory: the file is read in blocks of whole lines of about ``chunk_bytes``
  (:func:`iter_line_blocks`); a line longer than ``max_line_bytes`` is counted malformed and skipped.
- Speed: :func:`decode_block` decodes a block in one ``msgspec`` call when it is plainly one JSON object
  per line, and falls back to line-by-line decoding (same counts) when it is not.
"""

from __future__ import annotations

import bz2
import html
import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgspec
import numpy as np

from corpus_forge.io import compression_of

__all__ = [
    "DELETED_RAW",
    "REMOVED_RAW",
    "SUBMISSION_DECODER",
    "ReadReport",
    "Submission",
    "as_int",
    "decode_block",
    "decode_line",
    "dump_format",
    "iter_line_blocks",
    "lenient_decode",
    "read_submissions",
    "reddit_url",
]

ZSTD_MAX_WINDOW = 2**31  # Pushshift's zstd dumps are written with --long=31
CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 << 20


class Submission(msgspec.Struct, gc=False):
    """The fields of a Pushshift submission that the karma table uses; all optional.

    ``selftext`` stays raw JSON (not decoded): only ``"[deleted]"``/``"[removed]"`` matter, and self posts
    can carry tens of kilobytes of text. ``gc=False``: its fields cannot form reference cycles, so the
    garbage collector need not track the millions of these a dump decodes into.
    """

    url: str | None = None
    score: Any = None
    created_utc: Any = None
    subreddit: str | None = None
    is_self: bool | None = None
    over_18: bool | None = None
    selftext: msgspec.Raw = msgspec.Raw(b"null")
    removed_by_category: str | None = None
    domain: str | None = None


DELETED_RAW = msgspec.Raw(b'"[deleted]"')  # selftext of a post its author deleted
REMOVED_RAW = msgspec.Raw(b'"[removed]"')  # selftext of a post moderators removed
SUBMISSION_DECODER = msgspec.json.Decoder(Submission)
_any_decoder = msgspec.json.Decoder()


@dataclass
class ReadReport:
    """What reading one dump file met. ``lines`` counts non-empty lines, malformed ones included."""

    path: str
    lines: int = 0
    malformed: int = 0
    bytes_in: int = 0  # decompressed bytes
    format: str = ""
    truncated: bool = False
    error: str | None = None  # corrupt or unreadable data: what happened (the lines before it count)
    malformed_examples: list[str] = field(default_factory=list)

    def note_malformed(self, line: bytes, n: int = 1) -> None:
        self.malformed += n
        if len(self.malformed_examples) < 3:
            self.malformed_examples.append(line[:120].decode("utf-8", "replace"))


def dump_format(head: bytes) -> str:
    """``zst``, ``xz``, ``bz2``, ``gz`` or ``ndjson`` from a file's first bytes."""
    return compression_of(head) or "ndjson"


class TruncatedStream(EOFError):
    """The compressed stream ended before its end marker."""


def _new_decompressor(kind: str) -> Any:
    if kind == "zst":
        import zstandard

        return zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()
    if kind == "xz":
        return lzma.LZMADecompressor()
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(wbits=31)  # gz


def _decompressed_chunks(f: BinaryIO, kind: str, chunk_bytes: int) -> Iterator[bytes]:
    """Decompress every stream (zstd frame, xz stream, bz2 stream, gzip member) of ``f``, yielding all
    output as it comes, so a cut file gives every byte before the cut; then raise TruncatedStream if
    the last stream has no end."""
    dobj = _new_decompressor(kind)
    in_stream = False
    # small compressed pieces: each yields at most ~ratio × piece of output (bounded memory)
    piece = max(1 << 14, chunk_bytes // 16)
    while True:
        data = f.read(piece)
        if not data:
            break
        while data:
            in_stream = True
            out = dobj.decompress(data)
            if out:
                yield out
            if dobj.eof:
                in_stream = False
                data = dobj.unused_data
                if not data.strip(b"\x00"):  # zero padding after the last stream
                    data = b""
                dobj = _new_decompressor(kind)
            else:
                data = b""
    if in_stream:
        raise TruncatedStream(f"{kind} stream cut short")


def _chunks(f: BinaryIO, kind: str, chunk_bytes: int) -> Iterator[bytes]:
    if kind == "ndjson":
        return iter(lambda: f.read(chunk_bytes), b"")
    return _decompressed_chunks(f, kind, chunk_bytes)


def iter_line_blocks(path: str, report: ReadReport, *, chunk_bytes: int = CHUNK_BYTES,
                     max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Yield the decompressed file in blocks of whole lines (each block ends with a newline, except maybe
    the file's last), at most ``chunk_bytes`` long unless a single line is longer.

    A line longer than ``max_line_bytes`` is counted malformed (``report.lines`` too) and skipped; the
    consumer counts every other line. Truncated, corrupt and unreadable files end the iteration early and
    are noted in ``report`` (the lines before the damage are yielded).
    """
    import fsspec
    import zstandard

    decode_errors = (lzma.LZMAError, zlib.error, OSError, zstandard.ZstdError, ValueError)
    try:
        fobj = fsspec.open(path, "rb").open()
    except (OSError, ValueError) as err:
        report.error = f"unreadable: {type(err).__name__}: {err}"
        return
    with fobj as f:
        head = f.read(6)
        f.seek(0)
        report.format = kind = dump_format(head)
        buf = bytearray()
        skipping = False  # inside an over-long line
        try:
            for piece in _chunks(f, kind, chunk_bytes):
                report.bytes_in += len(piece)
                if skipping:
                    j = piece.find(b"\n")
                    if j == -1:
                        continue
                    piece, skipping = piece[j + 1 :], False
                buf += piece
                while len(buf) >= chunk_bytes:
                    cut = buf.rfind(b"\n", 0, chunk_bytes) + 1 or buf.find(b"\n", chunk_bytes) + 1
                    if not cut:  # one line, not ended yet
                        if len(buf) > max_line_bytes:
                            report.lines += 1
                            report.note_malformed(bytes(buf[:120]))
                            buf.clear()
                            skipping = True
                        break
                    yield bytes(memoryview(buf)[:cut])  # one copy (buf[:cut] would be two)
                    del buf[:cut]
        except TruncatedStream:
            report.truncated = True
        except decode_errors as err:
            report.error = f"corrupt {kind} data after {report.bytes_in} bytes: {type(err).__name__}: {err}"
        if buf.strip():
            yield bytes(buf)


def decode_block(block: bytes, report: ReadReport) -> list[Submission]:
    """Every submission of a block of whole lines; counts its non-empty lines (and malformed ones) in
    ``report``.

    One ``decode_lines`` call when the block is plainly one JSON object per line: as many objects as
    lines and every line starting with ``{`` (``decode_lines`` alone would also accept an object spread
    over lines, or two on one line). Otherwise line by line, as :func:`decode_line`.
    """
    a = np.frombuffer(block, np.uint8)
    nl = a == 10
    newlines = int(np.count_nonzero(nl))
    ended = block.endswith(b"\n")
    lines = newlines + (not ended)
    # every line begins with "{": the first, and each one after a newline (but the final newline's);
    # whole-array compares (bytes.count of b"\n{" costs three times as many instructions)
    if block[:1] == b"{" and int(np.count_nonzero(nl[:-1] & (a[1:] == 123))) == newlines - ended:
        try:
            subs = SUBMISSION_DECODER.decode_lines(block)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            if len(subs) == lines:
                report.lines += lines
                return subs
    out = []
    for line in block.split(b"\n"):
        if not line or line.isspace():
            continue
        report.lines += 1
        sub = decode_line(line)
        if sub is None:
            report.note_malformed(line)
        else:
            out.append(sub)
    return out


def as_int(value: Any) -> int | None:
    """``score``/``created_utc`` as int: int, float or numeric string; anything else, or a number beyond
    +-2**62 (it would not fit the table's int64 columns), is None."""
    if type(value) is int:
        return value if -(2**62) < value < 2**62 else None
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**62 else None
    if isinstance(value, str):
        try:
            return as_int(float(value))
        except ValueError:
            return None
    return None


def _lenient(obj: Any) -> Submission | None:
    """A Submission from a parsed JSON object whose fields have unexpected types (best effort)."""
    if not isinstance(obj, dict):
        return None

    def text(k: str) -> str | None:
        v = obj.get(k)
        return v if isinstance(v, str) else None

    def flag(k: str) -> bool | None:
        v = obj.get(k)
        if isinstance(v, bool):
            return v
        if isinstance(v, str):
            return v.strip().lower() in ("true", "1", "yes")
        if isinstance(v, (int, float)):
            return bool(v)
        return None

    sel = obj.get("selftext")
    return Submission(
        url=text("url"), score=obj.get("score"), created_utc=obj.get("created_utc"),
        subreddit=text("subreddit"), is_self=flag("is_self"), over_18=flag("over_18"),
        selftext=msgspec.Raw(msgspec.json.encode(sel)), removed_by_category=text("removed_by_category"),
        domain=text("domain"),
    )


def decode_line(line: bytes) -> Submission | None:
    """One NDJSON line → Submission, or None when it is not a JSON object (malformed)."""
    try:
        return SUBMISSION_DECODER.decode(line)
    except msgspec.ValidationError:
        return lenient_decode(line)
    except msgspec.DecodeError:
        return None


def lenient_decode(line: bytes) -> Submission | None:
    """Decode a line whose fields have unexpected types; None if it is not a JSON object."""
    try:
        return _lenient(_any_decoder.decode(line))
    except msgspec.DecodeError:
        return None


def reddit_url(url: str) -> str:
    """Undo Reddit's HTML escaping of link URLs (``&amp;`` → ``&``; also ``&lt;``, ``&gt;``)."""
    if "&" not in url:
        return url
    url = url.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return html.unescape(url) if "&#" in url else url


def read_submissions(path: str, report: ReadReport | None = None, **kw: Any) -> Iterator[Submission]:
    """Every well-formed submission of a dump; malformed lines are counted in ``report``."""
    report = report if report is not None else ReadReport(path)
    for block in iter_line_blocks(path, report, **kw):
        yield from decode_block(block, report)
