"""URL filters: Reddit karma (WebText), a domain blocklist, and WebText's Wikipedia removal.

Each needs only a URL, so the extract stage applies it to a WARC record's target URI before any HTML
is parsed (pushdown, ``url_filters: [...]`` in its config); each also works after extraction as a
document filter on the ``url`` column. Drop reasons: ``low_karma``, ``blocked_domain``, ``wikipedia``.

    {type: karma, table: karma_table/, min_karma: 3}          # adds a ``karma`` column
    {type: karma, table: karma_table/, annotate_only: true}   # adds ``karma``, drops nothing
    {type: domain_blocklist, files: [blocklist.txt], domains: [example.com]}
    {type: wikipedia, mirrors: [wikiwand.com]}

Loaded tables and domain lists are cached per process (workers load each once, not per partition).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpus_forge.cache import cached
from corpus_forge.config import ConfigError, StageConfig, validate
from filters.base import FilterResult, UrlFilter, register_filter
from filters.url_normalize import DomainSet, normalize_host, normalize_url, url_host

_CACHE: dict[tuple, Any] = {}


def _file_key(path: str) -> tuple:
    """Identity of a file for the per-process cache: path, size and modification time."""
    import fsspec

    fs, _, (p,) = fsspec.get_fs_token_paths(path)
    info = fs.info(p)
    return (path, info.get("size"), info.get("mtime") or info.get("LastModified") or info.get("created"))


def _cached(key: tuple, load: Any) -> Any:
    if key not in _CACHE:
        if len(_CACHE) >= 8:  # a worker rarely needs more than a few tables at once
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load()
    return _CACHE[key]


def _exists(path: str) -> bool:
    import fsspec

    fs, _, (p,) = fsspec.get_fs_token_paths(path)
    return fs.exists(p)


# ---- karma -------------------------------------------------------------------------------------
class KarmaTable:
    """Normalized URL → karma, held as sorted 64-bit hashes (16 bytes a URL) for compact lookups.

    A false match needs a 64-bit hash collision: for a 25M-URL table, about one in 7·10^11 lookups.
    """

    def __init__(self, urls: list[str], karma: np.ndarray, min_karma: int | None = None) -> None:
        import xxhash

        h = np.fromiter((xxhash.xxh3_64_intdigest(u.encode()) for u in urls), dtype=np.uint64, count=len(urls))
        order = np.argsort(h, kind="stable")
        self.hashes = h[order]
        self.karma = np.asarray(karma, dtype=np.int64)[order]
        self.min_karma = min_karma

    def __len__(self) -> int:
        return len(self.hashes)

    @classmethod
    def load(cls, path: str) -> KarmaTable:
        """Read a table written by ``karma build``: ``TABLE_DIR`` (its ``karma.parquet``, or else all its
        ``karma-part-*.parquet``, the hash partitions of a Dask run) or one Parquet file."""
        import fsspec
        import pyarrow as pa
        import pyarrow.parquet as pq

        from pipelines.karma_aggregate import META_KEY

        tables = []
        for file in _table_files(path):
            with fsspec.open(file, "rb") as f:
                tables.append(pq.read_table(f, columns=["url", "karma"]))
        meta = (tables[0].schema.metadata or {}).get(META_KEY)
        min_karma = json.loads(meta).get("min_karma") if meta else None
        t = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        karma = t["karma"].to_numpy(zero_copy_only=False)
        return cls(t["url"].to_pylist(), karma, min_karma)

    def lookup_keys(self, keys: list[str | None]) -> np.ndarray:
        """Karma per normalized key; -1 where the key is missing (None) or not in the table."""
        import xxhash

        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(self.hashes):
            return out
        idx = [i for i, k in enumerate(keys) if k is not None]
        if not idx:
            return out
        h = np.fromiter((xxhash.xxh3_64_intdigest(keys[i].encode()) for i in idx), dtype=np.uint64, count=len(idx))
        pos = np.searchsorted(self.hashes, h)
        pos_c = np.minimum(pos, len(self.hashes) - 1)
        hit = self.hashes[pos_c] == h
        out[np.asarray(idx)[hit]] = self.karma[pos_c[hit]]
        return out

    def get(self, key: str | None) -> int | None:
        """Karma of one normalized key, or None."""
        if key is None or not len(self.hashes):
            return None
        import xxhash

        h = np.uint64(xxhash.xxh3_64_intdigest(key.encode()))
        i = int(np.searchsorted(self.hashes, h))
        if i < len(self.hashes) and self.hashes[i] == h:
            return int(self.karma[i])
        return None


def _table_files(path: str) -> list[str]:
    """The Parquet file(s) of a table: ``path`` itself if a file; else ``TABLE_DIR/karma.parquet`` if there,
    else the ``karma-part-*.parquet`` of ``TABLE_DIR`` (sorted); ``karma.parquet`` when neither exists (so
    reading it reports the missing file)."""
    import fsspec

    from pipelines.karma import PART_GLOB, TABLE_FILE

    fs, _, (p,) = fsspec.get_fs_token_paths(path)
    if not fs.isdir(p):
        return [path]
    base = path.rstrip("/")
    single = base + "/" + TABLE_FILE
    if fs.exists(p.rstrip("/") + "/" + TABLE_FILE):
        return [single]
    parts = sorted(fs.glob(p.rstrip("/") + "/" + PART_GLOB))
    if not parts:
        return [single]
    proto = path.split("://", 1)[0] + "://" if "://" in path else ""
    return [fs.unstrip_protocol(q) if proto else q for q in parts]


def _table_min_karma(path: str) -> int | None:
    """The ``min_karma`` the table was built with (from its Parquet metadata), without reading it."""
    import fsspec
    import pyarrow.parquet as pq

    from pipelines.karma_aggregate import META_KEY

    with fsspec.open(_table_files(path)[0], "rb") as f:
        meta = (pq.read_schema(f).metadata or {}).get(META_KEY)
    return json.loads(meta).get("min_karma") if meta else None


def load_karma_table(path: str) -> KarmaTable:
    """The table at ``path``, loaded once per process (reloaded if a file of it changes)."""
    files = _table_files(path)
    key = tuple(x for f in files for x in _file_key(f))
    return _cached(("karma", *key), lambda: KarmaTable.load(path))


class KarmaFilterConfig(StageConfig):
    table: str = Field(description="a `karma build` output directory or its karma.parquet")
    min_karma: int = Field(3, description="keep URLs with at least this karma (WebText: 3)")
    annotate_only: bool = Field(False, description="add the karma column, drop nothing")


@register_filter("karma")
class KarmaFilter(UrlFilter):
    """Keep documents whose normalized URL has ``karma >= min_karma`` in a Reddit karma table.

    Adds ``karma`` (null where the URL is not in the table). With ``annotate_only`` nothing is dropped:
    use it where the dumps do not cover the crawl's time, instead of dropping everything.
    """

    name = "karma"
    reason = "low_karma"
    columns: ClassVar[dict[str, pa.DataType]] = {"karma": pa.int64()}

    def __init__(self, **options: Any) -> None:
        self.config = validate(KarmaFilterConfig, options, "filter karma")
        if not _exists(self.config.table):
            raise ConfigError(f"filter karma: table {self.config.table!r} not found (build it with "
                              "`corpus-forge karma build DUMP... --out DIR`)")
        self._check_threshold(_table_min_karma(self.config.table))

    def __repr__(self) -> str:
        return f"KarmaFilter({self.config.model_dump()})"

    def _check_threshold(self, table_min: int | None) -> None:
        """A table built with ``--min-karma 3`` cannot tell a 1-karma URL from an unknown one."""
        if table_min is not None and self.config.min_karma < table_min and not self.config.annotate_only:
            raise ConfigError(f"filter karma: min_karma={self.config.min_karma} is below the table's "
                              f"min_karma={table_min}; rebuild the table with --min-karma "
                              f"{self.config.min_karma}")

    @property
    def table(self) -> KarmaTable:
        return cached("karma.table", self.config.table, lambda: load_karma_table(self.config.table))

    def url_decision(self, url: str | None) -> tuple[str | None, dict[str, Any]]:
        k = self.table.get(normalize_url(url))
        if self.config.annotate_only or (k is not None and k >= self.config.min_karma):
            return None, {"karma": k}
        return self.reason, {"karma": k}

    def filter_table(self, table: pa.Table) -> FilterResult:
        urls = table.column("url").to_pylist() if "url" in table.column_names else [None] * table.num_rows
        karma = self.table.lookup_keys([normalize_url(u) for u in urls])
        known = karma >= 0
        col = pa.array(karma, type=pa.int64(), mask=~known)
        if self.config.annotate_only:
            keep = np.ones(len(urls), dtype=bool)
        else:
            keep = known & (karma >= self.config.min_karma)
        reasons = [None if k else self.reason for k in keep]
        return FilterResult(keep, reasons, {"karma": col})


# ---- domains -----------------------------------------------------------------------------------
def _read_domains(path: str) -> list[str]:
    """Domains from a list file: one a line, ``#`` comments, hosts-file lines (``0.0.0.0 host``) and
    URLs accepted (their host is taken)."""
    import fsspec

    out = []
    with fsspec.open(path, "rt", encoding="utf-8", errors="replace", compression="infer") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            token = line.split()[-1]
            host = url_host(token) if "://" in token else normalize_host(token)
            if host:
                out.append(host)
    return out


def load_domain_set(files: tuple[str, ...], extra: tuple[str, ...] = ()) -> DomainSet:
    """The union of the domain list files and ``extra`` domains, loaded once per process."""
    key = ("domains", tuple(_file_key(f) for f in files), extra)

    def load() -> DomainSet:
        domains = list(extra)
        for f in files:
            domains.extend(_read_domains(f))
        return DomainSet(domains)

    return _cached(key, load)


class _DomainFilter(UrlFilter):
    """Drop documents whose URL host is one of ``domains`` or a subdomain of one."""

    reason = "domain"

    def domain_set(self) -> DomainSet:
        raise NotImplementedError

    def url_decision(self, url: str | None) -> tuple[str | None, dict[str, Any]]:
        return (self.reason if self.domain_set().match(url_host(url)) else None), {}

    def filter_table(self, table: pa.Table) -> FilterResult:
        urls = table.column("url").to_pylist() if "url" in table.column_names else [None] * table.num_rows
        ds = self.domain_set()
        reasons = [self.reason if ds.match(url_host(u)) else None for u in urls]
        return FilterResult(np.array([r is None for r in reasons], dtype=bool), reasons)


class DomainBlocklistConfig(StageConfig):
    files: list[str] = Field(default_factory=list, description="domain list files (one a line)")
    domains: list[str] = Field(default_factory=list, description="more domains, inline")


@register_filter("domain_blocklist")
class DomainBlocklistFilter(_DomainFilter):
    """Drop documents from blocklisted domains and their subdomains (``files`` and/or ``domains``)."""

    name = "domain_blocklist"
    reason = "blocked_domain"

    def __init__(self, **options: Any) -> None:
        if isinstance(options.get("files"), str):
            options["files"] = [options["files"]]
        self.config = validate(DomainBlocklistConfig, options, "filter domain_blocklist")
        if not self.config.files and not self.config.domains:
            raise ConfigError("filter domain_blocklist: give 'files' (domain lists) or 'domains'")
        for f in self.config.files:
            if not _exists(f):
                raise ConfigError(f"filter domain_blocklist: files: {f!r} not found")

    def __repr__(self) -> str:
        return f"DomainBlocklistFilter({self.config.model_dump()})"

    def domain_set(self) -> DomainSet:
        c = self.config
        return cached("blocklist.domains", c, lambda: load_domain_set(tuple(c.files), tuple(c.domains)))


class WikipediaConfig(StageConfig):
    mirrors: list[str] = Field(default_factory=list,
                               description="more domains to treat as Wikipedia (e.g. wikiwand.com)")


@register_filter("wikipedia")
class WikipediaFilter(_DomainFilter):
    """WebText's removal of Wikipedia: ``wikipedia.org`` and every subdomain, plus configured mirrors.

    GPT-2 (Radford et al. 2019): "We removed all Wikipedia documents from WebText since it is a common
    data source for other datasets and could complicate analysis due to overlapping training data".
    """

    name = "wikipedia"
    reason = "wikipedia"
    DOMAINS: tuple[str, ...] = ("wikipedia.org",)

    def __init__(self, **options: Any) -> None:
        self.config = validate(WikipediaConfig, options, "filter wikipedia")
        self._domains = DomainSet([*self.DOMAINS, *self.config.mirrors])

    def __repr__(self) -> str:
        return f"WikipediaFilter({self.config.model_dump()})"

    def domain_set(self) -> DomainSet:
        return self._domains

