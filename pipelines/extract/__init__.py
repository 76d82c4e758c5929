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
(:class:`pipelines.extract.inflate.Inflated`): memory stays bounded whatever the compression ratio. Each
record's outcome goes into one :class:`pipelines.extract.sink.RecordSink` per partition, which commits it only
once the reader knows the record starts inside the partition.

``decode_error``, ``timeout``, ``extract_error``, ``corrupt_record`` and ``truncated_record`` mean "could not
process" (``error_reasons``); when one of them takes at least ``max_error_share`` (default: all) of the records
that were kept or failed, the stage fails (exit 1) instead of reporting success (:mod:`corpus_forge.health`).
"""

from __future__ import annotations

import os
import sys
import zlib
from typing import Any, BinaryIO

import pyarrow as pa
from pydantic import Field

from corpus_forge.cache import cached
from corpus_forge.health import ErrorShareConfig
from corpus_forge.io import CC_PREFIX, compression_of, expand_inputs, is_url, open_binary, path_key, url_to_fs
from corpus_forge.schema import stable_id, with_reason
from corpus_forge.stage import Partition, PartitionResult, Stage
from corpus_forge.timeout import TimeLimitExceeded, call_with_time_limit
from pipelines.extract.html_decode import DecodeError, decode_html
from pipelines.extract.inflate import DecompressionCapExceeded, Inflated, is_member_gzip
from pipelines.extract.sink import RecordSink
from pipelines.extract.warc_split import next_boundary, nominal_ranges, owned_range

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

    split_bytes: int = Field(
        128 * 2**20, gt=0, description="files larger than this are cut into ranges of about this many bytes, one "
        "task each (per-record-gzip and uncompressed WARC/ARC; whole-file-compressed ones stay whole)")
    max_html_bytes: int = Field(2 * 2**20, gt=0, description="payloads larger than this are counted as too_large")
    max_record_bytes: int = Field(
        2**30, gt=0, description="whole-file-compressed WARCs (one gzip member, bz2, xz, zstd): decompressed "
        "bytes of one record; a larger one is counted too_large and the rest of the file is not read")
    max_file_bytes: int = Field(
        8 * 2**30, gt=0, description="whole-file-compressed WARCs: decompressed bytes read from one file; "
        "the record at the cut is counted file_too_large and the rest of the file is not read")
    time_limit: float = Field(5.0, ge=0, description="seconds per page for trafilatura; 0 = none")
    # trafilatura: fast (= no_fallback) scored the same F1 as the default on the article-extraction
    # benchmark at 1.31x its speed here (the issue quoted ~1.8x; bench/trafilatura_settings.py).
    fast: bool = Field(True, description="trafilatura's fast mode (no_fallback: no readability/justext fallback); "
                                         "trafilatura's own default is False, see bench/trafilatura_settings.py")
    favor_precision: bool = Field(False, description="trafilatura favor_precision: less text, less noise "
                                                     "(trafilatura's default: False)")
    favor_recall: bool = Field(False, description="trafilatura favor_recall: more text, more noise "
                                                  "(trafilatura's default: False)")
    include_comments: bool = Field(False, description="keep a page's comment sections (trafilatura's default is "
                                                      "True; off here, as comments are rarely the page's text)")
    include_tables: bool = Field(True, description="keep text inside <table> elements (trafilatura's default: True)")
    deduplicate: bool = Field(False, description="trafilatura's in-document removal of repeated segments "
                                                 "(trafilatura's default: False)")
    min_text_chars: int = Field(1, ge=1, description="shorter extractions count as extract_empty")
    wet: bool = Field(True, description="turn WET 'conversion' records into documents")
    url_filters: list[dict[str, Any]] = Field(
        default_factory=list, json_schema_extra={"flag": "--url-filter"},
        description="URL filter applied to the record's target URI before parsing (pushdown), as inline YAML, "
                    "e.g. '{type: karma, table: DIR}'")
    prefix: str = Field(CC_PREFIX, description="host prefix for relative lines of *.paths listings")
    source: str = Field("cc-warc", description="the source column of documents from WARC responses (WET text "
                                               "is always cc-wet)")


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
        """Nominal ranges of ``split_bytes`` from each file's listed size; the client opens no file (each task
        finds its own records, :func:`owned_range`). A file whose size no listing gave (a ``*.paths`` line, an
        http URL) is one task."""
        files = expand_inputs(inputs, prefix=self.config.prefix)
        parts: list[Partition] = []
        folders: dict[Any, dict[str, Any]] = {}  # each folder's listing read once, not once per file in it
        for path in files:
            base = path_key(path)  # from the file, never its position in the list
            for start, end in nominal_ranges(listed_size(path, folders), self.config.split_bytes):
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
    def _handle(self, record: Any, offset: int, sink: RecordSink) -> None:
        """Turn one record into a document or a removal reason, into ``sink``'s pending slot."""
        c = self.config
        h = record.rec_headers
        rtype = record.rec_type or "unknown"
        sink.tally("record_types", rtype)
        url = h.get_header("WARC-Target-URI")
        if url:
            url = url.strip().strip("<>")
        rec_id = h.get_header("WARC-Record-ID") or f"{os.path.basename(sink.path)}@{offset}"
        row = {"id": stable_id(rec_id), "source": c.source, "url": url, "warc_file": sink.path,
               "warc_offset": offset, "warc_record_id": rec_id, "crawl_date": h.get_header("WARC-Date")}
        if rtype == "conversion" and c.wet:
            kind = "wet"
        elif rtype == "response":
            kind = "html"
        else:
            return sink.drop(row, "not_response")
        extra_cols: dict[str, Any] = {}
        for flt in self.url_filters():
            reason, cols = flt.url_decision(url)
            if reason:
                sink.add("pushdown_skipped")
                return sink.drop(row, reason)
            extra_cols.update(cols)
        text, reason, cols = self._wet_text(record) if kind == "wet" else self._html_text(record, url, sink)
        if reason:
            return sink.drop(row, reason)
        sink.keep({**row, "text": text, **cols, **extra_cols})

    def _wet_text(self, record: Any) -> tuple[str, str | None, dict[str, Any]]:
        """A WET ``conversion`` record's text (already plain text): ``(text, removal reason, columns)``."""
        c = self.config
        data = record.content_stream().read(c.max_html_bytes + 1)
        if len(data) > c.max_html_bytes:
            return "", "too_large", {}
        text = data.decode("utf-8", errors="replace").strip()
        if len(text) < c.min_text_chars:
            return "", "extract_empty", {}
        return text, None, {"source": "cc-wet", "content_type": "text/plain", "charset": "utf-8"}

    def _html_text(self, record: Any, url: str | None, sink: RecordSink) -> tuple[str, str | None, dict[str, Any]]:
        """A response's main text through trafilatura: ``(text, removal reason, columns)``."""
        c = self.config
        http = record.http_headers
        if http is None or not http.protocol.upper().startswith("HTTP"):
            return "", "not_response", {}  # dns:, ftp: and other non-HTTP responses
        if http.get_statuscode() != "200":
            return "", "http_status", {}
        ctype = (http.get_header("Content-Type") or "").strip()
        mime = ctype.split(";")[0].strip().lower()
        if mime and mime not in HTML_TYPES:
            return "", "not_html", {}
        data = record.content_stream().read(c.max_html_bytes + 1)
        if len(data) > c.max_html_bytes:
            return "", "too_large", {}
        if b"\x00" in data[:2048]:
            return "", "binary_content", {}
        if not mime and b"<html" not in data[:4096].lower() and b"<!doctype html" not in data[:4096].lower():
            return "", "not_html", {}
        try:
            html, charset, how = decode_html(data, ctype)
        except DecodeError:
            return "", "decode_error", {}
        sink.tally("charset_source", how)
        try:
            text = call_with_time_limit(c.time_limit, self._extract_text, html, url)
        except TimeLimitExceeded:
            return "", "timeout", {}
        except Exception:
            return "", "extract_error", {}
        text = (text or "").strip()
        if len(text) < c.min_text_chars:
            return "", "extract_empty", {}
        return text, None, {"content_type": mime or "text/html", "charset": charset}

    # ---- one partition ----------------------------------------------------------------------
    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        with open_binary(part.path) as raw:
            f: BinaryIO = raw
            size = f.seek(0, 2)
            f.seek(0)
            head = f.read(512)
            kind = compression_of(head)
            gz = kind == "gz"
            if kind is None and not _looks_like_archive(head) and size > 0:
                raise ValueError(f"{part.path}: not a WARC, WET or ARC file (starts with {head[:24]!r})")
            sink = RecordSink(part.path, _is_arc(f, head, kind))
            if kind is not None and (not gz or not is_member_gzip(f)):  # one stream: the range at 0 reads it all
                if part.start > 0:
                    return self._result(sink)
                sink.counters.extra["whole_file_gzip" if gz else f"whole_file_{kind}"] = 1
                f = Inflated(f, kind, self.config.max_file_bytes, self.config.max_record_bytes)
                pos, end, gz = 0, sys.maxsize, False  # the size is not known without inflating it all
            else:
                pos, end = owned_range(f, part.start, part.end, size, gz)
            try:
                while pos < end:
                    pos = self._read_range(f, pos, end, gz, sink)
            except DecompressionCapExceeded as cap:
                if not cap.counted:  # hit between records (a header, or skipping damage): one more record
                    sink.lost(cap.reason)
                sink.counters.error("decompression_capped")
                sink.counters.extra["decompression_capped"] = [f"{part.path}: {cap}"]
        return self._result(sink)

    def _result(self, sink: RecordSink) -> PartitionResult:
        return PartitionResult(self._kept_table(sink.rows), _removed_table(sink.removed), sink.counters)

    def _kept_table(self, rows: list[dict[str, Any]]) -> pa.Table:
        """The documents, with the columns the URL filters declare and any others the rows carry."""
        kept = pa.Table.from_pylist(rows, schema=SCHEMA) if rows else SCHEMA.empty_table()
        declared = {k: v for flt in self.url_filters() for k, v in flt.adds_columns.items()}
        for col in [*declared, *_extra_columns(rows)]:
            if col not in kept.column_names:
                kept = kept.append_column(col, pa.array([r.get(col) for r in rows], type=declared.get(col)))
        return kept

    def _read_range(self, f: BinaryIO, pos: int, end: int, gz: bool, sink: RecordSink) -> int:
        """Read records starting at ``pos`` until one starts at or after ``end``; return where to go on.

        Each record is handled into the sink's pending slot and committed only if it starts before ``end``
        (the next partition owns the rest).
        """
        from warcio.archiveiterator import ArchiveIterator

        f.seek(pos)  # warcio reports offsets from the file's start (it asks fh.tell())
        it = ArchiveIterator(f, arc2warc=True, check_digests=False, ensure_http_headers=False)
        expected = pos  # where the next record should start (for resynchronising after damage)
        errors = _archive_errors()
        try:
            for record in it:
                if isinstance(f, Inflated):
                    f.mark_record()
                sink.begin()
                try:
                    self._handle(record, expected, sink)
                    off, length = it.get_record_offset(), it.get_record_length()
                except DecompressionCapExceeded as cap:
                    sink.commit_as(cap.reason)  # this record inflated past a cap: count it, then stop reading
                    cap.counted = True
                    raise
                except errors:
                    sink.lost("corrupt_record")
                    return _resume(f, expected + 1, end, gz)
                if off >= end:
                    sink.discard()
                    return end
                if getattr(record.raw_stream, "limit", 0) > 0:
                    sink.commit_as("truncated_record", off)  # the file ends inside this record
                else:
                    sink.commit(off)
                expected = off + length
        except errors:
            # reading the next record header failed
            if expected == pos:  # nothing readable here at all: count it and look further on
                sink.lost("corrupt_record")
                return _resume(f, pos + 1, end, gz)
            # after good records: restart at the next verified boundary (warcio may have eaten the next
            # record's first line as a separator, as with ClueWeb09's WARC/0.18 files); bytes skipped
            # between the last good record and that boundary count as one corrupt record
            nxt = _resume(f, expected, end, gz)
            if nxt != expected:
                sink.lost("corrupt_record")
            return nxt
        return end


def _extra_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns beyond :data:`SCHEMA` that some row carries (URL filters' columns), in first-seen order."""
    names = set(SCHEMA.names)
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k not in names:
                seen[k] = None
    return list(seen)


def _removed_table(removed: list[dict[str, Any]]) -> pa.Table:
    rem = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "reason"} for r in removed],
                               schema=SCHEMA) if removed else SCHEMA.empty_table()
    return with_reason(rem, [r["reason"] for r in removed])


def listed_size(path: str, folders: dict[Any, dict[str, Any]] | None = None) -> int | None:
    """A file's size without a request of its own: a local stat, or the entry its folder's listing cached
    (globs and folders are listed when the inputs are expanded); None when neither knows it. ``folders`` keeps
    each folder's ``{name: size}`` between calls, so sizing every file of a folder scans its listing once."""
    fs, p = url_to_fs(path)
    if not is_url(path) or path.startswith("file://"):
        try:
            return int(os.path.getsize(p))
        except OSError:
            return None  # the task names the problem
    folder = (type(fs), p.rsplit("/", 1)[0])
    sizes = folders.get(folder) if folders is not None else None
    if sizes is None:
        try:
            entries = fs._ls_from_cache(folder[1]) or []
        except Exception:  # a filesystem without a listing cache
            entries = []
        sizes = {e.get("name", "").rstrip("/"): e.get("size") for e in entries if isinstance(e, dict)}
        if folders is not None:
            folders[folder] = sizes
    size = sizes.get(p)
    return int(size) if size is not None else None


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


def _resume(f: BinaryIO, start: int, end: int, gz: bool) -> int:
    nxt = next_boundary(f, start, end, gz)
    return end if nxt is None or nxt >= end else nxt
