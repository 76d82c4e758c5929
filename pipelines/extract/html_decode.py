"""Bytes → str for HTML: byte-order mark, UTF-8, the HTTP charset, the ``<meta>`` charset, a detector.

Order chosen by measurement (bench/trafilatura_settings.py --charset): on the page-signal Google News set,
112 of 621 pages declare a legacy charset in ``<meta>`` yet are valid non-ASCII UTF-8 — trusting the
declaration first garbles 91 pages, trying strict UTF-8 first garbles 25 — and no page in the sets is
valid UTF-8 while really being in another encoding. So non-ASCII bytes that decode as strict UTF-8 are
UTF-8; otherwise the declarations are tried (HTTP, then ``<meta>``); a page that is UTF-8 but for a few
bad bytes is read as UTF-8 with replacement characters; only then does the detector guess.
"""

from __future__ import annotations

import codecs
import re

_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HTTP = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# a page is "UTF-8 with a few bad bytes" when it has this many non-ASCII characters per replacement
MOSTLY_UTF8_RATIO = 10


class DecodeError(ValueError):
    """No charset decodes the page."""


def _norm(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _HTTP.search(content_type)
    return _norm(m.group(1)) if m else None


def meta_charset(html: bytes) -> str | None:
    m = _META.search(html[:4096])
    return _norm(m.group(1).decode("ascii", "ignore")) if m else None


def _mostly_utf8(data: bytes) -> str | None:
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return text if good >= MOSTLY_UTF8_RATIO * bad else None


def decode_html(data: bytes, content_type: str | None = None) -> tuple[str, str, str]:
    """Return (text, charset, how); how is ``bom``, ``utf-8``, ``http``, ``meta``, ``utf-8-lossy`` or
    ``detected``. A declared ``iso-8859-1``/``ascii`` is read as ``cp1252``, as browsers do."""
    for bom, cs in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(cs), cs, "bom"
            except UnicodeDecodeError:
                break
    if not data.isascii():
        try:
            return data.decode("utf-8"), "utf-8", "utf-8"
        except UnicodeDecodeError:
            pass
    declared = [(how, cs) for how, cs in (("http", http_charset(content_type)), ("meta", meta_charset(data))) if cs]
    if data.isascii() and not declared:
        return data.decode("ascii"), "utf-8", "utf-8"
    for how, cs in declared:
        if cs in ("latin-1", "iso8859-1", "ascii"):
            cs = "cp1252"
        if cs in ("utf-8", "utf_8") and not data.isascii():
            continue  # already failed strict UTF-8 above
        try:
            return data.decode(cs), cs, how
        except (UnicodeDecodeError, LookupError):
            continue
    lossy = _mostly_utf8(data)
    if lossy is not None:
        return lossy, "utf-8", "utf-8-lossy"
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 18]).best()
    if best is None or not best.encoding:
        raise DecodeError("no charset decodes this page")
    try:
        return data.decode(best.encoding), best.encoding, "detected"
    except (UnicodeDecodeError, LookupError):
        raise DecodeError(f"detected charset {best.encoding} does not decode this page") from None
