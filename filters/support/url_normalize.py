"""One URL normalization, used both to build the karma table and to look up crawl records.

``normalize_url`` turns a URL into a scheme-less key, ``host[:port]/path[?query]``, so that the
spellings of one page that Reddit posts and crawlers produce meet:

- scheme: ``http`` and ``https`` are the same page (other schemes are not web pages: ``None``);
- host: lower case, no trailing dot, IDN as punycode, a leading ``www.`` dropped, user info dropped;
- port: the default ports 80 and 443 dropped;
- path: ``.``/``..`` segments resolved, trailing slashes dropped (``/a/`` == ``/a``; the root is ``""``);
- percent-encoding (RFC 3986 6.2.2): escapes of unreserved characters decoded, hex digits upper case,
  spaces, non-ASCII and other characters that must be escaped encoded as UTF-8;
- query: tracking parameters (``utm_*``, ``fbclid``, ``gclid`` ...) and empty pairs dropped, the rest
  sorted (OpenWebText compared queries as sets of pairs), an empty ``?`` dropped;
- fragment: dropped, except AJAX ``#!`` fragments, which name content (``twitter.com/#!/user``).

Source-specific decoding (Reddit's ``&amp;`` in URLs, a WARC's ``<uri>``) happens before this; the
function strips surrounding whitespace, angle brackets and quotes itself, since both sides see those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "TRACKING_PARAMS",
    "DomainSet",
    "domains_regex",
    "host_matches",
    "normalize_host",
    "normalize_url",
    "normalize_urls",
    "url_host",
]

# Parameters that say where a click came from, not which page it is.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid",
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "vero_id", "oly_anon_id", "oly_enc_id",
        "rb_clickid", "wickedid", "_openstat", "ncid", "cmpid", "__twitter_impression",
    }
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_",)
# A query pair that is a tracking parameter starts with one of these (Python re and RE2 alike).
_TRACKING_ALT = "|".join([re.escape(p) for p in TRACKING_PREFIXES]
                         + [re.escape(p) + "(?:=|$)" for p in sorted(TRACKING_PARAMS)])
# A single-pair query needs the slow loop only if it may be a tracking parameter.
_TRACKING = re.compile(f"^(?:{_TRACKING_ALT})", re.IGNORECASE)

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters allowed unescaped in a path or query (RFC 3986 pchar / query), as a regex class body.
_SAFE = r"A-Za-z0-9\-._~!$&'()*+,;=:@/?"
# Anything outside the safe set, or an escape, sends a component down the slow path.
_NEEDS_FIX = re.compile(f"[^{_SAFE}]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_BARE_HOST = re.compile(r"^[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+(:\d+)?([/?#]|$)")
_PORT_SUFFIX = re.compile(r":(\d*)$")
_DEFAULT_PORTS = frozenset({"", "80", "443"})
_FAST = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9._\-]+)(?::(\d*))?(/[^?#]*)?(?:\?([^#]*))?(#.*)?", re.S)
_HOST_OK = re.compile(r"^[a-z0-9_\-]+(\.[a-z0-9_\-]+)*$")


# What _fix_escapes rewrites: an escape (or a bare '%'), or a run of characters that must be escaped.
_ESCAPE_OR_UNSAFE = re.compile(f"%([0-9A-Fa-f]{{2}})?|[^{_SAFE}%]+")


def _fix_escape(m: re.Match[str]) -> str:
    s = m.group(0)
    if s[0] == "%":
        hx = m.group(1)
        if hx is None:
            return "%25"  # a '%' that starts no escape
        ch = chr(int(hx, 16))
        return ch if ch in _UNRESERVED else "%" + hx.upper()
    return "".join(f"%{b:02X}" for b in s.encode("utf-8", "surrogatepass"))


def _fix_escapes(part: str) -> str:
    """Normalize percent-encoding in a path or query component (see the module docstring)."""
    return _ESCAPE_OR_UNSAFE.sub(_fix_escape, part)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, for paths that contain ``.`` or ``..`` segments."""
    out: list[str] = []
    segments = path.split("/")
    for seg in segments[1:]:
        if seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    if segments[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out)


def normalize_host(host: str) -> str | None:
    """Lower case, no trailing dot, punycode for IDNs, no leading ``www.``; ``None`` if empty."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # keep the Unicode form: still the same on both sides
    if host.startswith("www."):
        host = host[4:]
    return host or None


def _split(url: str) -> tuple[str, str] | None:
    """(authority, rest) of an http(s) URL, or None when it is not one."""
    if not url:
        return None
    m = _SCHEME.match(url)
    if m and url[m.end() : m.end() + 2] == "//":
        if m.group(1).lower() not in ("http", "https"):
            return None
        rest = url[m.end() + 2 :]
    elif url.startswith("//"):
        rest = url[2:]
    elif _BARE_HOST.match(url):  # "example.com/page" as people paste it
        rest = url
    else:
        return None
    cut = len(rest)
    for sep in "/?#":
        j = rest.find(sep)
        if j != -1 and j < cut:
            cut = j
    return rest[:cut], rest[cut:]


def _host_port(authority: str) -> tuple[str, str] | None:
    authority = authority.rpartition("@")[2]
    port = ""
    if authority.startswith("["):  # IPv6 literal
        end = authority.find("]")
        if end == -1:
            return None
        host, tail = authority[: end + 1], authority[end + 1 :]
        if tail:
            if not tail.startswith(":") or not tail[1:].isdigit():
                return None
            port = tail[1:]
        return host.lower(), port
    m = _PORT_SUFFIX.search(authority)
    if m:
        authority, port = authority[: m.start()], m.group(1)
    elif ":" in authority:
        return None  # a port that is not a number
    host = normalize_host(authority)
    if host is None or not _HOST_OK.match(host):
        return None
    return host, str(int(port)) if port else ""


def normalize_url(url: str | None) -> str | None:
    """The lookup key of ``url`` (``host[:port]/path[?query]``), or ``None`` if it is not a web URL.

    >>> normalize_url("HTTPS://www.Example.com:443/a/./b/?utm_source=x&b=2&a=1#top")
    'example.com/a/b?a=1&b=2'
    """
    parts = _parts(url, True)
    return parts[0] if parts is not None else None


def _clean(url: str) -> str:
    return url.strip().strip("<>\"'").strip()


def _normalize(url: str | None, fast: bool) -> str | None:
    """``fast=False`` always takes the general parser (tests check both paths agree)."""
    parts = _parts(url, fast)
    return parts[0] if parts is not None else None


def _parts(url: str | None, fast: bool) -> tuple[str, str] | None:
    if not url:
        return None
    url = _clean(url)
    m = _FAST.fullmatch(url) if fast else None
    if m is not None:  # the common case: http(s), plain ASCII host, no user info
        host, port, path, query, rest = m.groups()
        host = host.rstrip(".").lower()
        if host.startswith("www."):
            host = host[4:]
        if not _HOST_OK.match(host):
            return None
        port = str(int(port)) if port else ""
        path = path or ""
        query = query or ""
        rest = rest or ""
    else:
        parts = _split(url)
        if parts is None:
            return None
        hp = _host_port(parts[0])
        if hp is None:
            return None
        host, port = hp
        rest = parts[1]
        j = rest.find("#")
        rest, frag = (rest[:j], rest[j:]) if j != -1 else (rest, "")
        path, _, query = rest.partition("?")
        rest = frag
    return _finish(host, port, path, query, rest), host


def _finish(host: str, port: str, path: str, query: str, fragment: str) -> str:
    if fragment:
        if fragment.startswith("#!"):
            if _NEEDS_FIX.search(fragment, 1):
                fragment = "#" + _fix_escapes(fragment[1:])
        else:
            fragment = ""

    if _NEEDS_FIX.search(path):
        path = _fix_escapes(path)
    if "/." in path:
        path = _remove_dot_segments(path)
    path = path.rstrip("/")

    if query:
        if _NEEDS_FIX.search(query):
            query = _fix_escapes(query)
        if "&" in query or _TRACKING.search(query):
            pairs = []
            for pair in query.split("&"):
                if not pair:
                    continue
                name = pair.partition("=")[0].lower()
                if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
                    continue
                pairs.append(pair)
            pairs.sort()
            query = "&".join(pairs)

    key = host if port in _DEFAULT_PORTS else f"{host}:{port}"
    key += path
    if query:
        key += "?" + query
    return key + fragment


def url_host(url: str | None) -> str | None:
    """The normalized host of ``url`` (as in :func:`normalize_url`), or ``None``."""
    if not url:
        return None
    parts = _split(_clean(url))
    if parts is None:
        return None
    hp = _host_port(parts[0])
    return hp[0] if hp else None


class DomainSet:
    """Domains that match themselves and their subdomains: ``b.c`` matches ``b.c`` and ``a.b.c``.

    Lookups try only the host's suffixes with as many labels as the entries have (one or two dict
    lookups for the usual registrable domains), not every suffix.
    """

    __slots__ = ("_labels", "domains")

    def __init__(self, domains: Iterable[str]) -> None:
        norm = {h for d in domains if (h := normalize_host(d)) is not None}
        self.domains: frozenset[str] = frozenset(norm)
        self._labels: tuple[int, ...] = tuple(sorted({d.count(".") + 1 for d in norm}))

    def __len__(self) -> int:
        return len(self.domains)

    def __contains__(self, host: object) -> bool:
        return isinstance(host, str) and self.match(host) is not None

    def match(self, host: str | None) -> str | None:
        """The entry that ``host`` (already normalized) equals or is a subdomain of, or None."""
        if not host:
            return None
        domains = self.domains
        labels = host.split(".")
        n = len(labels)
        for k in self._labels:
            if k > n:
                break
            suffix = host if k == n else ".".join(labels[n - k :])
            if suffix in domains:
                return suffix
        return None


def host_matches(host: str | None, domains: DomainSet) -> str | None:
    """The entry of ``domains`` that ``host`` equals or is a subdomain of, or None."""
    return domains.match(host)


# ------------------------------------------------------------------------------ columnar (Arrow)
# URLs that need none of the general rules: ``http(s)://`` in lower case, a lower-case ASCII host, no port
# or user info, path segments (no ``.``/``..`` segment) and at most one query pair, all of characters that
# need no escaping (no ``&`` or quote) or escapes that stay as they are (upper-case hex, not of an
# unreserved character), no fragment. Their key is the URL less the scheme, a leading ``www.`` and
# (without a query) trailing slashes and an empty ``?``; with a query, only when the path does not end in
# ``/`` (the key is then the URL as it is, less scheme and ``www.``). Arrow's C++ kernels do that on a
# whole column; every other URL takes :func:`normalize_url` (a URL with a plain ``#fragment`` is tried
# again without it first).
_PC = r"A-Za-z0-9\-_~!$()*+,;=:@."  # characters of a path segment that need no escaping
_PCND = _PC.replace(".", "")
# an escape that _fix_escapes keeps: upper-case hex, not %2D %2E %30-%39 %41-%5A %5F %61-%7A %7E
_ESC = "%(?:[01][0-9A-F]|2[0-9ABCF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F])"


def _chars(klass: str) -> str:
    """One character of ``klass`` or one escape that stays as it is."""
    return f"(?:[{klass}]|{_ESC})"


_SEG = rf"/+(?:{_chars(_PCND)}{_chars(_PC)}*|\.{_chars(_PCND)}{_chars(_PC)}*|\.\.{_chars(_PC)}+)"  # not . or ..
_HOSTRE = r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*"
_ARROW_NOQUERY = rf"^https?://{_HOSTRE}(?:{_SEG})*/*\??$"
_ARROW_QUERY = rf"^https?://{_HOSTRE}(?:{_SEG})*\?{_chars(_PC + '/?')}+$"
# Several query pairs, separated by '&' or Reddit's '&amp;' (no other entity: no ';' in a pair): pairs
# are split, tracking and empty ones dropped, the rest sorted and joined, in Arrow too.
_QP = _PC.replace(";", "") + "/?="
_ARROW_PAIRS, _ARROW_PAIRS_AMP = (rf"^https?://{_HOSTRE}(?:{_SEG})*/*\?{_chars(_QP)}*(?:{sep}{_chars(_QP)}*)+$"
                                  for sep in ("&", "&(?:amp;)?"))
# A fragment that the key drops (not an AJAX "#!"), in a URL with no HTML entity that could hide a '#'.
_PLAIN_FRAGMENT = "^[^#]*#(?:[^!]|$)"
_ARROW_TRACKING_PAIR = f"(?i)^(?:{_TRACKING_ALT})"  # a pair
_ARROW_TRACKING = f"(?i)^[^?]*\\?(?:{_TRACKING_ALT})"  # a URL whose query starts with one


def _sorted_query_keys(rest: pa.Array, amp_entities: bool) -> pa.Array:
    """Keys of URLs (scheme and ``www.`` already cut) that match ``_ARROW_PAIRS``: the path less trailing
    slashes, then the query's pairs less empty and tracking ones, sorted, joined by ``&``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if amp_entities:
        rest = pc.replace_substring(rest, "&amp;", "&")
    halves = pc.split_pattern(rest, "?", max_splits=1)
    path = pc.ascii_rtrim(pc.list_element(halves, 0), characters="/")
    lists = pc.split_pattern(pc.list_element(halves, 1), "&")
    flat = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists)
    keep = pc.and_not(pc.not_equal(flat, ""), pc.match_substring_regex(flat, _ARROW_TRACKING_PAIR))
    t = pa.table({"p": parent, "v": flat}).filter(keep)
    t = t.take(pc.sort_indices(t, [("p", "ascending"), ("v", "ascending")]))
    counts = np.bincount(t["p"].to_numpy(), minlength=len(rest))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    query = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), t["v"].combine_chunks()), "&")
    sep = pc.if_else(pc.equal(query, ""), "", "?")
    return pc.binary_join_element_wise(path, sep, query, "")


def _arrow_keys(arr: pa.Array, amp_entities: bool) -> tuple[pa.Array, np.ndarray]:
    """(keys, handled): the keys of the URLs that Arrow's patterns take (``handled``); other rows' keys
    are meaningless."""
    import pyarrow as pa
    import pyarrow.compute as pc

    handled = np.array(pc.fill_null(pc.match_substring_regex(arr, _ARROW_NOQUERY), False), dtype=bool)
    rest = pc.replace_substring_regex(arr, r"^https?://(?:www\.)?", "")
    # without a query the URL ends in /*\??: trimming trailing '/' and '?' removes exactly that
    key = pc.if_else(pa.array(handled), pc.ascii_rtrim(rest, characters="/?"), rest)
    left = np.flatnonzero(~handled)  # the query patterns only run on the URLs the first one did not take
    if len(left):
        sub = arr.take(pa.array(left))
        query = pc.fill_null(pc.and_not(pc.match_substring_regex(sub, _ARROW_QUERY),
                                        pc.match_substring_regex(sub, _ARROW_TRACKING)), False)
        handled[left[query.to_numpy(zero_copy_only=False)]] = True  # key = rest, as it is
        pairs = pc.fill_null(pc.match_substring_regex(sub, _ARROW_PAIRS_AMP if amp_entities else _ARROW_PAIRS),
                             False).to_numpy(zero_copy_only=False)
        if pairs.any():
            rows = left[pairs]
            key = _replace_rows(key, rows, _sorted_query_keys(rest.take(pa.array(rows)), amp_entities))
            handled[rows] = True
    return key, handled


def _replace_rows(key: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """``key`` with its ``rows`` (ascending) set to ``values``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = np.zeros(len(key), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(key, pa.array(mask), values)


def normalize_urls(urls: list[str | None], fallback: Callable[[str], str | None] | None = None, *,
                   amp_entities: bool = False, arr: pa.Array | None = None) -> pa.Array:
    """:func:`normalize_url` over a column: the keys as an Arrow string array, null where a URL has none.
    Plain URLs are normalized by Arrow kernels, the rest one by one by ``fallback`` (default
    :func:`normalize_url`; a source-specific unescape goes there: the URLs Arrow does contain no other
    ``&`` than query separators and no ``&#``). With ``amp_entities`` (Reddit's escaping) ``&amp;``
    separates too. ``arr``: ``urls`` already as an Arrow string array (saves converting them again)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    one = fallback or normalize_url
    arr = pa.array(urls, pa.string()) if arr is None else arr
    key, handled = _arrow_keys(arr, amp_entities)
    others = np.flatnonzero(~handled)
    if len(others):  # a URL with a plain fragment may be one for Arrow without it
        sub = arr.take(pa.array(others))
        frag = pc.fill_null(pc.and_not(pc.match_substring_regex(sub, _PLAIN_FRAGMENT),
                                       pc.match_substring(sub, "&#")), False).to_numpy(zero_copy_only=False)
        if frag.any():
            cut = pc.replace_substring_regex(sub.filter(pa.array(frag)), "(?s)#.*$", "", max_replacements=1)
            cut_key, ok = _arrow_keys(cut, amp_entities)
            if ok.any():  # only those: the general rules would see the cut URL's end differently
                rows = others[frag][ok]
                key = _replace_rows(key, rows, cut_key.filter(pa.array(ok)))
                handled[rows] = True
                others = np.flatnonzero(~handled)
    if len(others):
        fb: list[str | None] = [None] * len(arr)
        for i in others.tolist():
            u = urls[i]
            fb[i] = one(u) if u else None
        key = pc.if_else(pa.array(handled), key, pa.array(fb, pa.string()))
    return key


def domains_regex(domains: Iterable[str]) -> str:
    """An RE2 pattern matching the keys (:func:`normalize_url`) whose host is one of ``domains`` or a
    subdomain of one (as :class:`DomainSet`), for Arrow's ``match_substring_regex``."""
    alts = "|".join(sorted(re.escape(h) for d in domains if (h := normalize_host(d)) is not None))
    return rf"^(?:[^/?#:]*\.)?(?:{alts})(?:[:/?#]|$)" if alts else r"^\b\B"
