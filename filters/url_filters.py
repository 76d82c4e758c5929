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

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpus_forge.cache import cached
from corpus_forge.config import ConfigError, StageConfig, validate
from corpus_forge.io import file_identity
from filters.base import FilterResult, UrlFilter, register_filter
from filters.karma_table import KarmaTable, load_karma_table, table_min_karma
from filters.support.url_normalize import DomainSet, normalize_host, normalize_url, url_host


def _exists(path: str) -> bool:
    import fsspec

    fs, _, (p,) = fsspec.get_fs_token_paths(path)
    return fs.exists(p)


class KarmaFilterConfig(StageConfig):
    table: str = Field(description="a `karma build` output directory (its karma-part-*.parquet), or one such "
                       "Parquet file")
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
    adds_columns: ClassVar[dict[str, pa.DataType]] = {"karma": pa.int64()}

    def __init__(self, **options: Any) -> None:
        self.config = validate(KarmaFilterConfig, options, "filter karma")
        if not _exists(self.config.table):
            raise ConfigError(f"filter karma: table {self.config.table!r} not found (build it with "
                              "`corpus-forge karma build DUMP... --out DIR`)")
        try:
            self._check_threshold(table_min_karma(self.config.table))
        except FileNotFoundError as err:
            raise ConfigError(f"filter karma: {err}") from None

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
        return load_karma_table(self.config.table)  # cached per process, reloaded if the table changes

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
        reasons = [None if k else self.drop_reason(self.reason) for k in keep]
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
    key = ("domains", tuple(file_identity(f) for f in files), extra)

    def load() -> DomainSet:
        domains = list(extra)
        for f in files:
            domains.extend(_read_domains(f))
        return DomainSet(domains)

    return cached("domains", key, load)


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
        reasons = [self.drop_reason(self.reason) if ds.match(url_host(u)) else None for u in urls]
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

