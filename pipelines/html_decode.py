"""Bytes → str for HTML: the HTTP charset, then the ``<meta>`` charset, then a detector."""

from __future__ import annotations

import codecs
import re

_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HTTP = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


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


def decode_html(data: bytes, content_type: str | None = None) -> tuple[str, str, str]:
    """Return (text, charset, how) where how is ``http``, ``meta``, ``utf-8`` or ``detected``.

    A declared charset that fails to decode strictly is skipped (servers lie); ``iso-8859-1`` declared
    is read as ``cp1252``, as browsers do.
    """
    tried: list[str] = []
    for how, cs in (("http", http_charset(content_type)), ("meta", meta_charset(data)), ("utf-8", "utf-8")):
        if not cs or cs in tried:
            continue
        tried.append(cs)
        if cs in ("latin-1", "iso8859-1", "ascii"):
            cs = "cp1252"
        try:
            return data.decode(cs), cs, how
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 18]).best()
    if best is None or not best.encoding:
        raise DecodeError("no charset decodes this page")
    try:
        return data.decode(best.encoding), best.encoding, "detected"
    except (UnicodeDecodeError, LookupError):
        raise DecodeError(f"detected charset {best.encoding} does not decode this page") from None
