"""Rebuild the bundled sample WARCs from real pages in ``../shared/data/web_extraction``.

    .venv/bin/python samples/build_samples.py            # writes samples/sample-0000{0,1,2}.warc.gz
    .venv/bin/python samples/build_samples.py --check    # rebuild in a temp dir, compare bytes

Only sets whose licence allows redistribution go into ``samples/`` (``LICENSED_SETS``: scrapinghub
article-extraction-benchmark, MIT; trafilatura's evaluation pages, Apache-2.0; Mozilla Readability's test
pages, Apache-2.0). The loaders below also read the other sets (DragNet, CleanEval, ...) because
``bench/extract.py`` builds throw-away WARCs from all ~4,100 pages with :func:`write_warc`; those files
are never committed.

The files look like Common Crawl's: one gzip member per record, a ``warcinfo`` record first, then per
page a ``request``, a ``response`` (``HTTP/1.1 200``, ``text/html`` with the charset where the page tells
it) and a ``metadata`` record, plus a few synthetic non-page captures (301 redirects, a 404, a robots.txt,
a PNG) that an extractor must count and skip. Everything is derived from the inputs (record ids are
UUIDv5 of the URL, dates are fixed), so a rebuild gives byte-identical files.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import gzip
import hashlib
import io
import json
import re
import struct
import sys
import tempfile
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "web_extraction"
LICENSED_SETS = ("scrapinghub_aeb", "trafilatura_eval", "readability_testpages")
ALL_SETS = (*LICENSED_SETS, "cleaneval", "cleanportaleval", "dragnet", "page_signal_googlenews")

# How many pages of each licensed set go into the samples (about 4.4 MB of WARC in all).
SAMPLE_PAGES = {"scrapinghub_aeb": 80, "trafilatura_eval": 70, "readability_testpages": 20}
SAMPLE_FILES = 3
SAMPLE_MAX_PAGE_BYTES = 400_000  # skip the few huge pages to keep the bundle small
# Pages that are not UTF-8 kept on purpose: the first (by rank) for each distinct <meta> charset, which
# gives ISO-8859-1, a page whose meta claims UTF-8 but is not, windows-1252, one with no meta, GB2312, and
# windows-1250 (some announced in the HTTP header, some only in the page, some nowhere).
SAMPLE_NON_UTF8 = 6

CRAWL_START = dt.datetime(2024, 5, 18, 0, 0, 0, tzinfo=dt.UTC)
USER_AGENT = "corpus-forge-samples/1.0 (rebuilt offline from public extraction benchmarks; not a crawl)"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_CLEANEVAL_WRAPPER = re.compile(rb"""\A\s*<text id="([^"]*)"[^>]*>\s*""")


@dataclass(frozen=True)
class Page:
    """One real HTML page from a web-extraction set. ``synthetic_url``: the set gives no URL."""

    set: str
    name: str
    url: str
    html: bytes
    synthetic_url: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", crawl_url(self.url))


@dataclass
class Capture:
    """One fetch as a crawler would store it: request + response (+ metadata) records."""

    url: str
    status: int
    reason: str
    content_type: str | None
    body: bytes
    payload_type: str | None = None  # WARC-Identified-Payload-Type (absent when there is no body)
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    origin: str = "synthetic"  # "<set>/<name>" for real pages
    note: str = ""


# --------------------------------------------------------------------------------------------- loading


def _gz(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def _synthetic(set_name: str, name: str) -> str:
    # RFC 2606 reserves .invalid: the URL can never be mistaken for a real one.
    return f"https://{set_name.replace('_', '-')}.invalid/{name}"


def crawl_url(url: str) -> str:
    """The URL as a crawler writes it in ``WARC-Target-URI``: trimmed, IDNA host, spaces and non-ASCII
    percent-encoded (a few evaluation-set URLs carry raw spaces or umlauts)."""
    parts = urlsplit(url.strip())
    host = parts.netloc if parts.netloc.isascii() else parts.netloc.encode("idna").decode("ascii")
    safe = "/:@!$&'()*+,;=%~-._"
    return urlunsplit(
        (
            parts.scheme,
            host,
            quote(parts.path, safe=safe),
            quote(parts.query, safe=safe + "?"),
            quote(parts.fragment, safe=safe),
        )
    )


def _first_url_line(path: Path) -> str | None:
    if not path.exists():
        return None
    for line in _gz(path).decode("utf-8", "replace").splitlines()[:5]:
        if line.startswith("URL:"):
            return line[4:].strip() or None
    return None


def _load_aeb(root: Path) -> Iterable[Page]:
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    for key in sorted(truth):
        yield Page("scrapinghub_aeb", key, truth[key]["url"], _gz(root / "html" / f"{key}.html.gz"))


def _load_trafilatura(root: Path) -> Iterable[Page]:
    evaldata = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    for url in sorted(evaldata):
        fname = evaldata[url]["file"] + ".gz"
        path = next((p for p in (root / "eval" / fname, root / "cache" / fname) if p.exists()), None)
        if path is None:
            continue
        name = evaldata[url]["file"].removesuffix(".html")
        if url.startswith(("http://", "https://")):
            yield Page("trafilatura_eval", name, url, _gz(path))
        else:  # 37 keys are labels such as "hard::site.com-x.html", not URLs
            yield Page("trafilatura_eval", name, _synthetic("trafilatura_eval", name), _gz(path), True)


def _load_readability(root: Path) -> Iterable[Page]:
    for case in sorted(p for p in root.iterdir() if (p / "source.html.gz").exists()):
        yield Page(
            "readability_testpages",
            case.name,
            _synthetic("readability_testpages", case.name),
            _gz(case / "source.html.gz"),
            synthetic_url=True,
        )


def _load_cleaneval(root: Path) -> Iterable[Page]:
    for split in ("dev", "final"):
        for path in sorted((root / split / "input").glob("*.html.gz"), key=lambda p: p.name):
            raw = _gz(path)
            m = _CLEANEVAL_WRAPPER.match(raw)
            name = f"{split}-{path.name.removesuffix('.html.gz')}"
            if m:  # CleanEval wraps each page in <text id="URL" ...> ... </text>
                raw = raw[m.end() :]
                raw = raw[: raw.rfind(b"</text>")] if b"</text>" in raw[-64:] else raw
            url = m.group(1).decode("utf-8", "replace") if m and m.group(1) else None
            yield Page("cleaneval", name, url or _synthetic("cleaneval", name), raw, synthetic_url=not url)


def _load_with_gold_url(set_name: str, root: Path) -> Iterable[Page]:
    for path in sorted((root / "input").glob("*.html.gz"), key=lambda p: p.name):
        name = path.name.removesuffix(".html.gz")
        url = _first_url_line(root / "gold" / f"{name}.txt.gz")
        yield Page(set_name, name, url or _synthetic(set_name, name), _gz(path), synthetic_url=not url)


def load_pages(data_dir: Path = DEFAULT_DATA, sets: Iterable[str] = LICENSED_SETS) -> list[Page]:
    """All pages of the named sets, in a fixed order (set, then file name)."""
    loaders = {
        "scrapinghub_aeb": _load_aeb,
        "trafilatura_eval": _load_trafilatura,
        "readability_testpages": _load_readability,
        "cleaneval": _load_cleaneval,
        "cleanportaleval": lambda r: _load_with_gold_url("cleanportaleval", r),
        "dragnet": lambda r: _load_with_gold_url("dragnet", r),
        "page_signal_googlenews": lambda r: _load_with_gold_url("page_signal_googlenews", r),
    }
    pages: list[Page] = []
    for s in sets:
        if s not in loaders:
            raise ValueError(f"unknown set {s!r}; known: {', '.join(ALL_SETS)}")
        pages.extend(loaders[s](Path(data_dir) / s))
    return pages


# ------------------------------------------------------------------------------------------ captures


def rank(text: str) -> str:
    """A stable pseudo-random order key (sha1 hex) used for every choice the builder makes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def meta_charset(html: bytes) -> str | None:
    """The page's own ``<meta charset>`` (as written), if it names a codec Python knows."""
    m = _META_CHARSET.search(html[:20000])
    if not m:
        return None
    name = m.group(1).decode("ascii", "ignore")
    try:
        codecs.lookup(name)
    except LookupError:
        return None
    return name


def _decodes(data: bytes, charset: str) -> bool:
    try:
        data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def http_content_type(page: Page) -> str:
    """``text/html`` plus the charset a server would send: the page's meta charset (when it decodes the
    page) for three pages in four, ``UTF-8`` for half the valid-UTF-8 pages without one, else none."""
    r = int(rank(page.url)[:8], 16) % 4
    declared = meta_charset(page.html)
    if declared and _decodes(page.html, declared):
        return "text/html" if r == 0 else f"text/html; charset={declared.upper()}"
    if not declared and _decodes(page.html, "utf-8") and r < 2:
        return "text/html; charset=UTF-8"
    return "text/html"


def page_capture(page: Page) -> Capture:
    return Capture(
        page.url,
        200,
        "OK",
        http_content_type(page),
        page.html,
        "text/html",
        origin=f"{page.set}/{page.name}",
        note="synthetic URL (set has none)" if page.synthetic_url else "",
    )


def _png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (34, 102, 170)) -> bytes:
    """A tiny valid PNG, built here so the image capture is a real image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def non_page_captures(pages: list[Page]) -> list[Capture]:
    """Realistic captures that are not article pages, on the hosts of real sample pages (all synthetic)."""
    real = sorted((p for p in pages if not p.synthetic_url), key=lambda p: rank(p.url))
    hosts = [urlsplit(p.url) for p in real]
    not_found = (
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
        b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n"
    )
    robots = b"User-agent: *\nDisallow: /search\nDisallow: /admin/\n\nSitemap: https://%s/sitemap.xml\n"
    out = []
    for _i, target in enumerate(
        real[:2]
    ):  # http:// -> https:// redirects, empty body (the most common non-200)
        http_url = "http://" + target.url.split("://", 1)[1]
        out.append(
            Capture(
                http_url,
                301,
                "Moved Permanently",
                None,
                b"",
                None,
                [("Location", target.url)],
                note="synthetic redirect to a sample page",
            )
        )
    out.append(
        Capture(
            f"{hosts[2].scheme}://{hosts[2].netloc}/favicon.ico",
            404,
            "Not Found",
            "text/html; charset=UTF-8",
            not_found,
            "text/html",
            note="synthetic 404",
        )
    )
    out.append(
        Capture(
            f"{hosts[3].scheme}://{hosts[3].netloc}/robots.txt",
            200,
            "OK",
            "text/plain",
            robots % hosts[3].netloc.encode(),
            "text/plain",
            note="synthetic robots.txt",
        )
    )
    out.append(
        Capture(
            f"{hosts[4].scheme}://{hosts[4].netloc}/apple-touch-icon.png",
            200,
            "OK",
            "image/png",
            _png(),
            "image/png",
            note="synthetic 8x8 PNG",
        )
    )
    return out


GSM8K_ITEM = 0  # index of the GSM8K test question planted in one page (see demo_captures)


def _insert_paragraph(html: bytes, paragraph: str) -> bytes:
    """Insert ``<p>paragraph</p>`` after the page's second long paragraph (inside the article body)."""
    def prose(inner: bytes) -> bool:  # a real paragraph: 25+ words once tags are gone, no URLs or code
        text = re.sub(rb"<[^>]+>", b" ", inner)
        return len(re.findall(rb"[A-Za-z]{2,}", text)) >= 25 and b"http" not in text and b"<" not in inner[:1]

    long_paras = [m for m in re.finditer(rb"<p[^>]*>(.*?)</p>", html, re.S | re.I) if prose(m.group(1))]
    pos = long_paras[min(1, len(long_paras) - 1)].end() if long_paras else html.lower().rfind(b"</body>")
    return html[:pos] + b"\n<p>" + paragraph.encode("utf-8") + b"</p>\n" + html[pos:]


def demo_captures(chosen: list[Page], all_pages: list[Page]) -> list[Capture]:
    """Synthetic captures that give the demo's dedup and decontaminate stages real work (labelled in the
    manifest): crawls fetch one article under several URLs, and syndicated copies differ by a line.

    - 3 exact re-captures: the same English article bytes under its URL plus tracking parameters;
    - 2 near duplicates: the same article with one "originally published" line added;
    - 1 contaminated page: an English article not otherwise in the sample, with GSM8K test question
      ``GSM8K_ITEM`` (MIT, bundled in filters/data/benchmarks) pasted in as a paragraph.
    """
    import json
    import lzma

    aeb = sorted((p for p in chosen if p.set == "scrapinghub_aeb"), key=lambda p: rank(p.url))
    out: list[Capture] = []
    for p in aeb[:3]:
        sep = "&" if "?" in p.url else "?"
        cap = page_capture(p)
        cap.url = f"{p.url}{sep}utm_source=twitter&utm_medium=social"
        cap.note = "synthetic re-capture: same page under a tracking-parameter URL (exact duplicate)"
        out.append(cap)
    for p in aeb[3:5]:
        cap = page_capture(p)
        host = urlsplit(p.url).netloc
        cap.url = "https://syndication-partner.invalid/" + rank(p.url)[:12]
        cap.body = _insert_paragraph(p.html, f"This article was originally published on {host} and is "
                                              "republished here with permission.")
        cap.note = "synthetic syndicated copy: the page plus one added line (near duplicate)"
        out.append(cap)
    unused = sorted((p for p in all_pages if p.set == "scrapinghub_aeb" and p not in chosen
                     and len(p.html) <= SAMPLE_MAX_PAGE_BYTES and _decodes(p.html, "utf-8")),
                    key=lambda p: rank(p.url))
    target = unused[0]
    bench = Path(__file__).resolve().parents[1] / "filters" / "data" / "benchmarks" / "gsm8k_test.jsonl.xz"
    question = json.loads(lzma.decompress(bench.read_bytes()).decode("utf-8").splitlines()[GSM8K_ITEM])["question"]
    cap = page_capture(target)
    cap.body = _insert_paragraph(target.html, "A reader sent us this puzzle: " + question)
    cap.note = f"synthetic contamination: GSM8K test question {GSM8K_ITEM} pasted into the page"
    out.append(cap)
    return out


def select_sample_pages(pages: list[Page]) -> list[Page]:
    """The pages bundled in ``samples/``: per licensed set, the first ``SAMPLE_PAGES[set]`` by :func:`rank`
    among pages under ``SAMPLE_MAX_PAGE_BYTES``, always including a few pages in legacy charsets."""
    chosen: list[Page] = []
    for s, n in SAMPLE_PAGES.items():
        pool = sorted(
            (p for p in pages if p.set == s and len(p.html) <= SAMPLE_MAX_PAGE_BYTES),
            key=lambda p: rank(p.url),
        )
        legacy: list[Page] = []
        codecs_seen: set[str | None] = set()
        for p in pool:
            declared = meta_charset(p.html)
            codec = codecs.lookup(declared).name if declared else None
            if len(legacy) < SAMPLE_NON_UTF8 and codec not in codecs_seen and not _decodes(p.html, "utf-8"):
                legacy.append(p)
                codecs_seen.add(codec)
        rest = [p for p in pool if p not in legacy][: n - len(legacy)]
        chosen.extend(legacy + rest)
    return chosen


# ------------------------------------------------------------------------------------------- writing


def record_id(kind: str, url: str, salt: str = "") -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{kind} {url} {salt}')}>"


def warc_date(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(t: dt.datetime) -> str:
    return t.strftime("%a, %d %b %Y %H:%M:%S GMT")


def write_warc(
    path: Path,
    captures: list[Capture],
    *,
    start: dt.datetime = CRAWL_START,
    description: str = "corpus-forge sample",
) -> list[dict]:
    """Write ``captures`` as a Common-Crawl-shaped WARC (one gzip member per record).

    Returns one manifest row per record (index, type, url, status, content type, origin).
    Deterministic: record ids and dates come from the URL and the capture's position.
    """
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rows: list[dict] = []
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info_id = record_id("warcinfo", path.name)

    def emit(
        rec_type: str,
        uri: str,
        headers: dict[str, str],
        payload: bytes,
        http: StatusAndHeaders | None = None,
        capture: Capture | None = None,
    ) -> None:
        record = writer.create_warc_record(
            uri,
            rec_type,
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_headers_dict=headers,
            http_headers=http,
        )
        writer.write_record(record)
        rows.append(
            {
                "file": path.name,
                "record": len(rows),
                "warc_type": rec_type,
                "url": uri,
                "http_status": capture.status if capture and rec_type == "response" else "",
                "content_type": (capture.content_type or "") if capture and rec_type == "response" else "",
                "origin": capture.origin if capture else "",
                "note": capture.note if capture else "",
            }
        )

    info = (
        f"isPartOf: corpus-forge-samples\r\npublisher: corpus-forge (pages from public extraction "
        f"benchmarks, see samples/SOURCES.md)\r\ndescription: {description}\r\n"
        f"software: corpus-forge samples/build_samples.py with warcio\r\n"
        f"format: WARC File Format 1.0\r\n"
        f"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/\r\n"
    )
    emit(
        "warcinfo",
        "",
        {
            "WARC-Type": "warcinfo",
            "WARC-Date": warc_date(start),
            "WARC-Record-ID": info_id,
            "Content-Length": "0",
            "Content-Type": "application/warc-fields",
            "WARC-Filename": path.name,
        },
        info.encode("utf-8"),
    )

    for i, cap in enumerate(captures):
        when = start + dt.timedelta(seconds=7 * (i + 1))
        parts = urlsplit(cap.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        req_id, resp_id = (
            record_id("request", cap.url, cap.origin),
            record_id("response", cap.url, cap.origin),
        )
        common = {"WARC-Date": warc_date(when)}
        req = (
            f"GET {target} HTTP/1.1\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
            f"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: br,gzip\r\nHost: {parts.netloc}\r\n"
            "Connection: Keep-Alive\r\n\r\n"
        ).encode("latin-1", "replace")
        emit(
            "request",
            cap.url,
            {
                "WARC-Type": "request",
                **common,
                "WARC-Record-ID": req_id,
                "Content-Length": "0",
                "Content-Type": "application/http; msgtype=request",
                "WARC-Warcinfo-ID": info_id,
            },
            req,
            capture=cap,
        )

        http_headers = [("Date", http_date(when))]
        if cap.content_type:
            http_headers.append(("Content-Type", cap.content_type))
        http_headers += [*cap.extra_headers, ("Content-Length", str(len(cap.body)))]
        http = StatusAndHeaders(f"{cap.status} {cap.reason}", http_headers, protocol="HTTP/1.1")
        resp_headers = {
            "WARC-Type": "response",
            **common,
            "WARC-Record-ID": resp_id,
            "Content-Length": "0",
            "Content-Type": "application/http; msgtype=response",
            "WARC-Warcinfo-ID": info_id,
            "WARC-Concurrent-To": req_id,
        }
        if cap.payload_type:
            resp_headers["WARC-Identified-Payload-Type"] = cap.payload_type
        emit("response", cap.url, resp_headers, cap.body, http=http, capture=cap)

        fetch_ms = 40 + int(rank(cap.url)[:6], 16) % 900
        meta = f"fetchTimeMs: {fetch_ms}\r\n".encode()
        emit(
            "metadata",
            cap.url,
            {
                "WARC-Type": "metadata",
                **common,
                "WARC-Record-ID": record_id("metadata", cap.url, cap.origin),
                "Content-Length": "0",
                "Content-Type": "application/warc-fields",
                "WARC-Warcinfo-ID": info_id,
                "WARC-Concurrent-To": resp_id,
            },
            meta,
            capture=cap,
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return rows


def split_round_robin(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


def build(data_dir: Path, out_dir: Path) -> list[Path]:
    """Write the sample WARCs and ``MANIFEST.tsv`` into ``out_dir``; return the WARC paths."""
    all_pages = load_pages(data_dir, LICENSED_SETS)
    pages = select_sample_pages(all_pages)
    captures = sorted([page_capture(p) for p in pages] + demo_captures(pages, all_pages),
                      key=lambda c: rank(c.url))
    files = split_round_robin(captures, SAMPLE_FILES)
    extras = non_page_captures(pages)
    # put the non-page captures in different files, in the middle of the stream
    for j, cap in enumerate(extras):
        part = files[j % SAMPLE_FILES]
        part.insert(len(part) // 2 + j, cap)
    paths, manifest = [], []
    for i, caps in enumerate(files):
        path = out_dir / f"sample-{i:05d}.warc.gz"
        manifest += write_warc(
            path,
            caps,
            start=CRAWL_START + dt.timedelta(hours=i),
            description=f"corpus-forge sample {i + 1} of {SAMPLE_FILES}",
        )
        paths.append(path)
    cols = ["file", "record", "warc_type", "url", "http_status", "content_type", "origin", "note"]
    lines = ["\t".join(cols)] + ["\t".join(str(r[c]) for c in cols) for r in manifest]
    (out_dir / "MANIFEST.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _digest(paths: Iterable[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "missing" for p in paths}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="web_extraction folder (default: %(default)s)"
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    ap.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare with --out")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = _digest([*build(args.data, Path(tmp)), Path(tmp) / "MANIFEST.tsv"])
            have = _digest(args.out / name for name in fresh)
        bad = [n for n in fresh if fresh[n] != have.get(n)]
        print("identical" if not bad else f"differ: {', '.join(bad)}")
        return 1 if bad else 0
    paths = build(args.data, args.out)
    for p in paths:
        print(f"{p}  {p.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
