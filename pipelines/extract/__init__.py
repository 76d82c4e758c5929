"""``extract``: WARC/WET/ARC records → documents (warcio + trafilatura), every record accounted for.

Per partition (a file, or a record range of a large file), each record read is counted in
``documents_in`` and either becomes a document or is removed under one reason:

=================  ==============================================================================
``not_response``   warcinfo, request, metadata, resource, revisit, unknown record types, and
                   responses without HTTP headers (``dns:``, ``ftp:``)
URL filter reason  dropped by a pushdown URL filter (karma, blocklist, wikipedia) before parsing
``http_status``    HTTP status other than 200
``not_html``       content type not HTML (WET ``conversion`` records are text and are kept)
``binary_content`` declared HTML but the payload is binary
``too_large``      payload over ``max_html_bytes``; or, in a whole-file-compressed WARC, a record that
                   inflates past ``max_record_bytes`` (reading stops there: error ``decompression_capped``)
``file_too_large`` a whole-file-compressed WARC inflates past ``max_file_bytes``: the record at the cut
                   (reading stops there: error ``decompression_capped``)
``decode_error``   no charset decodes the payload
``timeout``        trafilatura ran (or returned) past ``time_limit``: the result is discarded
``extract_error``  trafilatura raised
``extract_empty``  no main text found
``truncated_record`` the file ends inside the record (fewer bytes than its Content-Length)
``corrupt_record`` unreadable data: bad gzip member, malformed header, broken chunking; reading
                   resumes at the next verified record boundary
=================  ==============================================================================

Whole-file-compressed WARCs (one gzip member holding every record, or bz2, xz, zstd) are read as a stream
(:class:`Inflated`): memory stays bounded whatever the compression ratio.

``decode_error``, ``timeout``, ``extract_error``, ``corrupt_record`` and ``truncated_record`` mean "could not
process" (``error_reasons``); when one of them takes at least ``max_error_share`` (default: all) of the records
that were kept or failed, the stage fails (exit 1) instead of reporting success (:mod:`corpus_forge.health`).
"""

from __future__ import annotations

import io
import os
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

import fsspec
import pyarrow as pa
from pydantic import Field

from corpus_forge.cache import cached
from corpus_forge.health import ErrorShareConfig
from corpus_forge.io import CC_PREFIX, compression_of, expand_inputs, path_key
from corpus_forge.schema import stable_id, with_reason
from corpus_forge.stage import Partition, PartitionResult, Stage
from corpus_forge.stats import Counters
from corpus_forge.timeout import TimeLimitExceeded, call_with_time_limit
from pipelines.extract.html_decode import DecodeError, decode_html
from pipelines.extract.warc_split import GZIP_MAGIC, next_boundary, split_points

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+xhtml", "text/xhtml")

SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("warc_file", pa.string()),
    pa.field("warc_offset", pa.int64()),
    pa.field("warc_record_id", pa.string()),
    pa.field("crawl_date", pa.string()),
    pa.field("content_type", pa.string()),
    pa.field("charset", pa.string()),
])


class ExtractConfig(ErrorShareConfig):
    """Options of the extract stage (keys as in a recipe's ``extract:`` block)."""

    split_bytes: int = Field(128 * 2**20, gt=0, description="split files larger than this into ranges")
    max_html_bytes: int = Field(2 * 2**20, gt=0, description="larger payloads are counted as too_large")
    max_record_bytes: int = Field(
        2**30, gt=0, description="whole-file-compressed WARCs (one gzip member, bz2, xz, zstd): decompressed "
        "bytes of one record; a larger one is counted too_large and the rest of the file is not read")
    max_file_bytes: int = Field(
        8 * 2**30, gt=0, description="whole-file-compressed WARCs: decompressed bytes read from one file; "
        "the record at the cut is counted file_too_large and the rest of the file is not read")
    time_limit: float = Field(5.0, ge=0, description="seconds per page for trafilatura; 0 = none")
    # trafilatura: fast (= no_fallback) scored the same F1 as the default on the article-extraction
    # benchmark at 1.31x its speed here (the issue quoted ~1.8x; bench/trafilatura_settings.py).
    fast: bool = True
    favor_precision: bool = False
    favor_recall: bool = False
    include_comments: bool = False
    include_tables: bool = True
    deduplicate: bool = False
    min_text_chars: int = Field(1, ge=1, description="shorter extractions count as extract_empty")
    wet: bool = Field(True, description="turn WET 'conversion' records into documents")
    url_filters: list[dict[str, Any]] = Field(
        default_factory=list, json_schema_extra={"flag": "--url-filter"},
        description="URL filter applied to the record's target URI before parsing (pushdown), as inline YAML, "
                    "e.g. '{type: karma, table: DIR}'")
    prefix: str = Field(CC_PREFIX, description="host prefix for relative lines of *.paths listings")
    source: str = "cc-warc"


_READ_ERRORS: tuple[type[BaseException], ...] = (zlib.error, EOFError, OSError, ValueError, KeyError,
                                                 IndexError, UnicodeError, AttributeError, TypeError)


def extractor_problem() -> str | None:
    """One line naming what the extractor cannot import (trafilatura and what it needs: lxml,
    lxml_html_clean, ...), or None when a tiny page extracts."""
    try:
        from pipelines.vendored.trafilatura_fast import FastTrafilatura

        FastTrafilatura().extract("<html><body><article><p>corpus-forge start-up check of the extractor, "
                                  "one paragraph of text.</p></article></body></html>", None)
    except Exception as err:
        msg = " ".join(str(err).split())
        return (f"extract: the extractor cannot run ({type(err).__name__}: {msg}); "
                "reinstall corpus-forge's dependencies (pip install -U pip && pip install .)")
    return None


def _archive_errors() -> tuple[type[BaseException], ...]:
    from warcio.exceptions import ArchiveLoadFailed

    try:
        from warcio.utils import ChunkedDataException  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - location differs between warcio versions
        from warcio.bufferedreaders import ChunkedDataException
    return (ArchiveLoadFailed, ChunkedDataException, *_READ_ERRORS)


class ExtractStage(Stage):
    """WARC/WET/ARC files → documents. Large per-record-gzip files are split into record ranges."""

    name = "extract"
    Config = ExtractConfig
    help = "WARC/WET/ARC files → documents (warcio + trafilatura)"
    inputs_metavar = "INPUT"
    inputs_help = "WARC/WET/ARC files, globs, directories, http(s)/s3 URLs, or CC *.paths(.gz) listings"
    #: "could not process" (not a decision): one of them on every record tried fails the stage (health.py)
    error_reasons = frozenset({"decode_error", "timeout", "extract_error", "corrupt_record", "truncated_record"})

    def check(self) -> None:
        """Before any work: the extractor's imports (trafilatura, lxml_html_clean, ...) and the URL filters."""
        problem = extractor_problem()
        if problem:
            from corpus_forge.config import ConfigError

            raise ConfigError(problem)
        self.url_filters()  # build them now: a bad table path or option fails before any task runs

    def independent_partitions(self) -> bool:
        return True

    # ---- partitions -------------------------------------------------------------------------
    def partitions(self, inputs: list[str]) -> list[Partition]:
        files = expand_inputs(inputs, prefix=self.config.prefix)
        parts: list[Partition] = []
        for path in files:
            base = path_key(path)  # from the file, never its position in the list
            try:
                with fsspec.open(path, "rb") as f:
                    size = f.size if hasattr(f, "size") and f.size is not None else f.seek(0, 2)
                    ranges = split_points(f, size, self.config.split_bytes)
            except (OSError, ValueError):
                ranges = [(0, None)]  # unreadable here: the partition reports it
            for start, end in ranges:
                parts.append(Partition(key=f"{base}-{start:012d}", path=path, start=start, end=end))
        return parts

    # ---- helpers ----------------------------------------------------------------------------
    def url_filters(self) -> list[Any]:
        return cached("extract.url_filters", self.config.url_filters, self._build_url_filters)

    def _build_url_filters(self) -> list[Any]:
        from filters.base import UrlFilter, build_filter

        built = []
        for k, spec in enumerate(self.config.url_filters):
            flt = build_filter(spec, where=f"extract.url_filters[{k}]")
            if not isinstance(flt, UrlFilter):
                from corpus_forge.config import ConfigError

                raise ConfigError(f"extract.url_filters[{k}]: {spec.get('type')!r} is not a URL filter")
            built.append(flt)
        return built

    def _build_extractor(self) -> Any:
        from pipelines.vendored.trafilatura_fast import FastTrafilatura

        c = self.config
        return FastTrafilatura(fast=c.fast, favor_precision=c.favor_precision, favor_recall=c.favor_recall,
                               include_comments=c.include_comments, include_tables=c.include_tables,
                               deduplicate=c.deduplicate)

    def _extract_text(self, html: str, url: str | None) -> str | None:
        """trafilatura's text of ``html``, through :mod:`pipelines.vendored.trafilatura_fast` (the same text as
        ``trafilatura.extract``, ~20% less CPU; plain ``trafilatura.extract`` where it does not apply)."""
        return cached("extract.extractor", self.config, self._build_extractor).extract(html, url)

    # ---- one record -------------------------------------------------------------------------
    def _handle(self, record: Any, path: str, offset: int, counters: Counters,
                rows: list[dict[str, Any]], removed: list[dict[str, Any]]) -> None:
        c = self.config
        h = record.rec_headers
        rtype = record.rec_type or "unknown"
        counters.extra.setdefault("record_types", Counter())[rtype] += 1
        url = h.get_header("WARC-Target-URI")
        if url:
            url = url.strip().strip("<>")
        rec_id = h.get_header("WARC-Record-ID") or f"{os.path.basename(path)}@{offset}"
        base = {"url": url, "warc_file": path, "warc_offset": offset, "warc_record_id": rec_id,
                "crawl_date": h.get_header("WARC-Date")}

        def drop(reason: str, **extra: Any) -> None:
            counters.remove(reason)
            removed.append({"id": stable_id(rec_id), "text": "", "source": c.source, **base,
                            "reason": reason, **extra})

        if rtype == "conversion" and c.wet:
            kind = "wet"
        elif rtype == "response":
            kind = "html"
        else:
            return drop("not_response")

        extra_cols: dict[str, Any] = {}
        for flt in self.url_filters():
            reason, cols = flt.url_decision(url)
            if reason:
                counters.extra["pushdown_skipped"] = counters.extra.get("pushdown_skipped", 0) + 1
                return drop(reason)
            extra_cols.update(cols)

        if kind == "wet":
            data = record.content_stream().read(c.max_html_bytes + 1)
            if len(data) > c.max_html_bytes:
                return drop("too_large")
            text = data.decode("utf-8", errors="replace").strip()
            if len(text) < c.min_text_chars:
                return drop("extract_empty")
            rows.append({"id": stable_id(rec_id), "text": text, "source": "cc-wet", **base,
                         "content_type": "text/plain", "charset": "utf-8", **extra_cols})
            return

        http = record.http_headers
        if http is None or not http.protocol.upper().startswith("HTTP"):
            return drop("not_response")  # dns:, ftp: and other non-HTTP responses
        status = http.get_statuscode()
        if status != "200":
            return drop("http_status")
        ctype = (http.get_header("Content-Type") or "").strip()
        mime = ctype.split(";")[0].strip().lower()
        if mime and mime not in HTML_TYPES:
            return drop("not_html")
        data = record.content_stream().read(c.max_html_bytes + 1)
        if len(data) > c.max_html_bytes:
            return drop("too_large")
        if b"\x00" in data[:2048]:
            return drop("binary_content")
        if not mime and b"<html" not in data[:4096].lower() and b"<!doctype html" not in data[:4096].lower():
            return drop("not_html")
        try:
            html, charset, how = decode_html(data, ctype)
        except DecodeError:
            return drop("decode_error")
        counters.extra.setdefault("charset_source", Counter())[how] += 1
        try:
            text = call_with_time_limit(c.time_limit, self._extract_text, html, url)
        except TimeLimitExceeded:
            return drop("timeout")
        except Exception:
            return drop("extract_error")
        text = (text or "").strip()
        if len(text) < c.min_text_chars:
            return drop("extract_empty")
        rows.append({"id": stable_id(rec_id), "text": text, "source": c.source, **base,
                     "content_type": mime or "text/html", "charset": charset, **extra_cols})

    # ---- one partition ----------------------------------------------------------------------
    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        counters = Counters()
        rows: list[dict[str, Any]] = []
        removed: list[dict[str, Any]] = []
        errors = _archive_errors()
        with fsspec.open(part.path, "rb") as raw:
            f: BinaryIO = raw
            size = f.seek(0, 2)
            f.seek(0)
            head = f.read(512)
            kind = compression_of(head)
            gz = kind == "gz"
            if kind is None and not _looks_like_archive(head) and size > 0:
                raise ValueError(f"{part.path}: not a WARC, WET or ARC file (starts with {head[:24]!r})")
            arc = _is_arc(f, head, kind)
            if kind is not None and part.start == 0 and part.end is None and (not gz or not _is_member_gzip(f)):
                counters.extra["whole_file_gzip" if gz else f"whole_file_{kind}"] = 1
                f = Inflated(f, kind, self.config.max_file_bytes, self.config.max_record_bytes)
                size = sys.maxsize  # not known without inflating it all
                gz = False
            pos = part.start
            end = part.end if part.end is not None else size
            try:
                while pos < end:
                    pos = self._read_range(f, part.path, pos, end, gz, counters, rows, removed, errors, arc)
            except DecompressionCapExceeded as cap:
                if not cap.counted:  # hit between records (a header, or skipping damage): one more record
                    counters.documents_in += 1
                    counters.remove(cap.reason)
                counters.error("decompression_capped")
                counters.extra["decompression_capped"] = [f"{part.path}: {cap}"]
        kept = pa.Table.from_pylist(rows, schema=SCHEMA) if rows else SCHEMA.empty_table()
        declared = {k: v for flt in self.url_filters() for k, v in flt.adds_columns.items()}
        for col in [*declared, *self._extra_columns(rows)]:
            if col not in kept.column_names:
                kept = kept.append_column(col, pa.array([r.get(col) for r in rows], type=declared.get(col)))
        rem_schema = SCHEMA
        rem = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "reason"} for r in removed],
                                   schema=rem_schema) if removed else rem_schema.empty_table()
        rem = with_reason(rem, [r["reason"] for r in removed])
        return PartitionResult(kept, rem, counters)

    def _read_range(self, f: BinaryIO, path: str, pos: int, end: int, gz: bool, counters: Counters,
                    rows: list[dict[str, Any]], removed: list[dict[str, Any]],
                    errors: tuple[type[BaseException], ...], arc: bool = False) -> int:
        """Read records starting at ``pos`` until one starts at or after ``end``; return where to go on.

        warcio knows a record's offset only after reading it, so each record is handled into scratch
        lists and committed only if it starts before ``end`` (the next partition owns the rest).
        """
        from warcio.archiveiterator import ArchiveIterator

        f.seek(pos)  # warcio reports offsets from the file's start (it asks fh.tell())
        it = ArchiveIterator(f, arc2warc=True, check_digests=False, ensure_http_headers=False)
        expected = pos  # where the next record should start (for resynchronising after damage)
        try:
            for record in it:
                if isinstance(f, Inflated):
                    f.mark_record()
                rc, r_rows, r_removed = Counters(documents_in=1), [], []
                try:
                    self._handle(record, path, expected, rc, r_rows, r_removed)
                    off, length = it.get_record_offset(), it.get_record_length()
                except DecompressionCapExceeded as cap:
                    # this record inflated past a cap: count it under the cap's reason, then stop reading
                    counters.documents_in += 1
                    counters.remove(cap.reason)
                    removed.extend({**r, "reason": cap.reason, "text": ""} for r in (*r_rows, *r_removed))
                    cap.counted = True
                    raise
                except errors:
                    counters.documents_in += 1
                    counters.remove("corrupt_record")
                    return _resume(f, expected + 1, end, gz)
                if off >= end:
                    return end
                if getattr(record.raw_stream, "limit", 0) > 0:
                    # the file ends inside this record (fewer bytes than its Content-Length)
                    rc = Counters(documents_in=1)
                    rc.remove("truncated_record")
                    r_removed = [{**r, "reason": "truncated_record", "text": ""} for r in (*r_rows, *r_removed)]
                    r_rows = []
                for r in (*r_rows, *r_removed):
                    r["warc_offset"] = off
                    if arc:  # warcio gives ARC records random ids: use file@offset
                        r["warc_record_id"] = None
                        r["id"] = stable_id(f"{os.path.basename(path)}@{off}")
                counters.documents_in += 1
                counters.removed.update(rc.removed)
                counters.extra = counters.merge(rc).extra
                rows.extend(r_rows)
                removed.extend(r_removed)
                expected = off + length
        except errors:
            # reading the next record header failed
            if expected == pos:  # nothing readable here at all: count it and look further on
                counters.documents_in += 1
                counters.remove("corrupt_record")
                return _resume(f, pos + 1, end, gz)
            # after good records: restart at the next verified boundary (warcio may have eaten the next
            # record's first line as a separator, as with ClueWeb09's WARC/0.18 files); bytes skipped
            # between the last good record and that boundary count as one corrupt record
            nxt = _resume(f, expected, end, gz)
            if nxt != expected:
                counters.documents_in += 1
                counters.remove("corrupt_record")
            return nxt
        return end

    @staticmethod
    def _extra_columns(rows: list[dict[str, Any]]) -> list[str]:
        names = set(SCHEMA.names)
        seen: dict[str, None] = {}
        for r in rows:
            for k in r:
                if k not in names:
                    seen[k] = None
        return list(seen)


MEMBER_SCAN_BYTES = 64 << 20  # decompressed bytes of the first gzip member looked at to tell the layouts apart


def _is_member_gzip(f: BinaryIO) -> bool:
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


def _is_arc(f: BinaryIO, head: bytes, kind: str | None) -> bool:
    """True for an ARC file (plain or gzipped): warcio converts its records to WARC ones with random
    WARC-Record-IDs (and says ``format == 'warc'``), so the reader names them by file and offset instead."""
    if kind == "gz":
        f.seek(0)
        try:
            head = zlib.decompressobj(wbits=31).decompress(f.read(1 << 16), 512)
        except zlib.error:
            head = b""
        f.seek(0)
    elif kind is not None:
        return False  # bz2 / xz / zstd ARC files are not seen in the wild
    h = head.lstrip(b"\r\n")
    return bool(h) and not h.startswith(b"WARC/") and _looks_like_archive(h)


def _looks_like_archive(head: bytes) -> bool:
    """WARC (any version) or ARC (``filedesc://`` first line, or a URL line for headerless ARC)."""
    h = head.lstrip(b"\r\n")
    return h.startswith((b"WARC/", b"filedesc://")) or (b"://" in h[:200] and h[:1].isalpha())


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


def _resume(f: BinaryIO, start: int, end: int, gz: bool) -> int:
    nxt = next_boundary(f, start, end, gz)
    return end if nxt is None or nxt >= end else nxt
