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
``too_large``      payload over ``max_html_bytes``
``decode_error``   no charset decodes the payload
``timeout``        trafilatura ran past ``time_limit``
``extract_error``  trafilatura raised
``extract_empty``  no main text found
``truncated_record`` the file ends inside the record (fewer bytes than its Content-Length)
``corrupt_record`` unreadable data: bad gzip member, malformed header, broken chunking; reading
                   resumes at the next verified record boundary
=================  ==============================================================================
"""

from __future__ import annotations

import argparse
import io
import os
import zlib
from collections import Counter
from typing import Any, BinaryIO

import fsspec
import pyarrow as pa
from pydantic import Field

from corpus_forge.config import StageConfig, validate
from corpus_forge.io import CC_PREFIX, expand_inputs
from corpus_forge.schema import stable_id, with_reason
from corpus_forge.stage import Partition, PartitionResult, Stage, safe_key
from corpus_forge.stats import Counters
from corpus_forge.timeout import TimeLimitExceeded, time_limit
from pipelines.html_decode import DecodeError, decode_html
from pipelines.warc_split import GZIP_MAGIC, is_gzip, next_boundary, split_points

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


class ExtractConfig(StageConfig):
    """Options of the extract stage (keys as in a recipe's ``extract:`` block)."""

    split_bytes: int = Field(128 * 2**20, gt=0, description="split files larger than this into ranges")
    max_html_bytes: int = Field(2 * 2**20, gt=0, description="larger payloads are counted as too_large")
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
    url_filters: list[dict[str, Any]] = Field(default_factory=list,
                                              description="URL filters applied before parsing (pushdown)")
    prefix: str = Field(CC_PREFIX, description="host prefix for relative lines of *.paths listings")
    source: str = "cc-warc"


_READ_ERRORS: tuple[type[BaseException], ...] = (zlib.error, EOFError, OSError, ValueError, KeyError,
                                                 IndexError, UnicodeError, AttributeError, TypeError)


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

    def __init__(self, config: ExtractConfig | None = None) -> None:
        self.config = config or ExtractConfig()
        self._url_filters: list[Any] | None = None
        self._extractor: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.config = state["config"]
        self._url_filters = None
        self._extractor = None

    # ---- partitions -------------------------------------------------------------------------
    def partitions(self, inputs: list[str]) -> list[Partition]:
        files = expand_inputs(inputs, prefix=self.config.prefix)
        parts: list[Partition] = []
        for i, path in enumerate(files):
            base = safe_key(os.path.basename(path).split("?")[0], 60)
            try:
                with fsspec.open(path, "rb") as f:
                    size = f.size if hasattr(f, "size") and f.size is not None else f.seek(0, 2)
                    ranges = split_points(f, size, self.config.split_bytes)
            except (OSError, ValueError):
                ranges = [(0, None)]  # unreadable here: the partition reports it
            for j, (start, end) in enumerate(ranges):
                parts.append(Partition(key=f"{i:05d}-{base}-{j:04d}", path=path, start=start, end=end))
        return parts

    # ---- helpers ----------------------------------------------------------------------------
    def url_filters(self) -> list[Any]:
        if self._url_filters is None:
            from filters.base import UrlFilter, build_filter

            built = []
            for k, spec in enumerate(self.config.url_filters):
                flt = build_filter(spec, where=f"extract.url_filters[{k}]")
                if not isinstance(flt, UrlFilter):
                    from corpus_forge.config import ConfigError

                    raise ConfigError(f"extract.url_filters[{k}]: {spec.get('type')!r} is not a URL filter")
                built.append(flt)
            self._url_filters = built
        return self._url_filters

    def _extract_text(self, html: str, url: str | None) -> str | None:
        """trafilatura's text of ``html``, through :mod:`pipelines.trafilatura_fast` (the same text as
        ``trafilatura.extract``, ~20% less CPU; plain ``trafilatura.extract`` where it does not apply)."""
        if self._extractor is None:
            from pipelines.trafilatura_fast import FastTrafilatura

            c = self.config
            self._extractor = FastTrafilatura(
                fast=c.fast, favor_precision=c.favor_precision, favor_recall=c.favor_recall,
                include_comments=c.include_comments, include_tables=c.include_tables, deduplicate=c.deduplicate)
        return self._extractor.extract(html, url)

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
            with time_limit(c.time_limit):
                text = self._extract_text(html, url)
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
            gz = is_gzip(head)
            if not gz and not _looks_like_archive(head) and size > 0:
                raise ValueError(f"{part.path}: not a WARC, WET or ARC file (starts with {head[:24]!r})")
            if gz and part.start == 0 and part.end is None and not _is_member_gzip(f):
                counters.extra["whole_file_gzip"] = 1
                f = _decompressed(f)
                size = f.seek(0, 2)
                gz = False
            pos = part.start
            end = part.end if part.end is not None else size
            while pos < end:
                pos = self._read_range(f, part.path, pos, end, gz, counters, rows, removed, errors)
        kept = pa.Table.from_pylist(rows, schema=SCHEMA) if rows else SCHEMA.empty_table()
        declared = {k: v for flt in self.url_filters() for k, v in flt.columns.items()}
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
                    errors: tuple[type[BaseException], ...]) -> int:
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
                rc, r_rows, r_removed = Counters(documents_in=1), [], []
                try:
                    self._handle(record, path, expected, rc, r_rows, r_removed)
                    off, length = it.get_record_offset(), it.get_record_length()
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
                    if record.format != "warc":  # warcio gives ARC records random ids: use file@offset
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


def _is_member_gzip(f: BinaryIO) -> bool:
    """True when the first gzip member ends before the file does (Common Crawl's per-record gzip)."""
    f.seek(0)
    d = zlib.decompressobj(wbits=31)
    while not d.eof:
        chunk = f.read(1 << 16)
        if not chunk:
            return True  # truncated single member: let the record reader count it
        try:
            d.decompress(chunk)
        except zlib.error:
            return True
    more = d.unused_data or f.read(3)
    f.seek(0)
    return bool(more) and more.startswith(GZIP_MAGIC[:2])


def _looks_like_archive(head: bytes) -> bool:
    """WARC (any version) or ARC (``filedesc://`` first line, or a URL line for headerless ARC)."""
    h = head.lstrip(b"\r\n")
    return h.startswith((b"WARC/", b"filedesc://")) or (b"://" in h[:200] and h[:1].isalpha())


def _decompressed(f: BinaryIO) -> BinaryIO:
    """Whole-file gzip (one member holding all records): read it decompressed (not splittable)."""
    import gzip

    f.seek(0)
    try:
        return io.BytesIO(gzip.GzipFile(fileobj=f).read())
    except (OSError, EOFError, zlib.error):
        f.seek(0)
        d = zlib.decompressobj(wbits=31)
        out = bytearray()
        try:
            while chunk := f.read(1 << 16):
                out += d.decompress(chunk)
        except zlib.error:
            pass
        return io.BytesIO(bytes(out))


def _resume(f: BinaryIO, start: int, end: int, gz: bool) -> int:
    nxt = next_boundary(f, start, end, gz)
    return end if nxt is None or nxt >= end else nxt


# ---- CLI and recipe -------------------------------------------------------------------------
def from_options(options: dict[str, Any]) -> ExtractStage:
    stage = ExtractStage(validate(ExtractConfig, options, "extract"))
    stage.url_filters()  # build them now: a bad table path or option fails before any task runs
    return stage


def register(sub: argparse._SubParsersAction) -> None:
    from corpus_forge.cli_common import add_stage_options

    p = sub.add_parser("extract", help="WARC/WET/ARC files → documents (warcio + trafilatura)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="WARC/WET/ARC files, globs, directories, http(s)/s3 URLs, or CC *.paths(.gz) listings")
    p.add_argument("--prefix", default=None, help=f"host for relative lines in *.paths listings ({CC_PREFIX})")
    p.add_argument("--split-bytes", type=int, default=None, help="split larger files into record ranges")
    p.add_argument("--max-html-bytes", type=int, default=None, help="pages larger than this: too_large")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per page for trafilatura")
    p.add_argument("--favor-precision", action="store_const", const=True, default=None)
    p.add_argument("--favor-recall", action="store_const", const=True, default=None)
    p.add_argument("--no-fast", dest="fast", action="store_const", const=False, default=None,
                   help="use trafilatura's fallback extractors (slower, same F1 measured)")
    p.add_argument("--url-filter", action="append", default=None, metavar="YAML",
                   help="pushdown URL filter as inline YAML, e.g. '{type: karma, table: DIR}' (repeatable)")
    add_stage_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import yaml

    from corpus_forge.cli_common import config_from_args, run_stage_cli

    url_filters = [yaml.safe_load(s) for s in args.url_filter] if args.url_filter else None
    opts = config_from_args(args, {
        "prefix": args.prefix, "split_bytes": args.split_bytes, "max_html_bytes": args.max_html_bytes,
        "time_limit": args.time_limit, "favor_precision": args.favor_precision,
        "favor_recall": args.favor_recall, "fast": args.fast, "url_filters": url_filters,
    })
    return run_stage_cli(from_options(opts), args.inputs, args)
