"""The map of ``karma build``: one Pushshift dump → per-URL aggregates of its usable posts, and counters.

:func:`scan_dump` streams the dump in blocks of whole lines (:mod:`pipelines.karma.pushshift`), decodes each
block in one ``msgspec`` call, and :class:`_BatchScanner` works on every ``flush_rows`` submissions column by
column; :class:`DumpScan` counts the skips and folds the usable posts now and then into per-URL aggregates
(:mod:`pipelines.karma.aggregate`). Pure functions: no Dask here.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus_forge.stats import Counters
from filters.support.url_normalize import domains_regex, normalize_url, normalize_urls
from pipelines.karma.aggregate import (
    MAIN_SCHEMA,
    POSTS_SCHEMA,
    SUBS_SCHEMA,
    Partial,
    aggregate_posts,
    combine,
    split_partial,
)
from pipelines.karma.config import DELETED_BY, MEDIA_EXTENSIONS, KarmaBuildConfig, excluded_domains
from pipelines.karma.pushshift import (
    DELETED_RAW,
    REMOVED_RAW,
    ReadReport,
    as_int,
    decode_block,
    iter_line_blocks,
    reddit_url,
)

# Skip reasons in the order they are checked (the first that applies counts); code 0 = kept.
SKIP_ORDER: tuple[str, ...] = ("self_post", "nsfw", "deleted", "removed", "no_url", "bad_url", "reddit_internal",
                               "image_host", "media_file", "no_score")
_CODE = {r: i + 1 for i, r in enumerate(SKIP_ORDER)}
_EXAMPLE_REASONS = tuple(r for r in SKIP_ORDER[2:] if r != "no_url")  # examples show the post's URL
_MEDIA_RE = "(?i)^[^?]*(?:" + "|".join(e.replace(".", "\\.") for e in MEDIA_EXTENSIONS) + ")(?:\\?|$)"


_URL, _SCORE = operator.attrgetter("url"), operator.attrgetter("score")
_CREATED, _SUBREDDIT = operator.attrgetter("created_utc"), operator.attrgetter("subreddit")


def _ints(values: list[Any]) -> pa.Array:
    """int64 column of ``as_int`` values (null where a value is not a number), vectorized when the values
    are ints, or ints and floats (the 2024 dumps' ``created_utc``); other types go through ``as_int``."""
    types = set(map(type, values))
    if types <= {int, float, type(None)} and float in types:
        try:  # Arrow refuses ints that a double does not hold exactly
            x = pa.array(values, pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN
        except (OverflowError, pa.ArrowInvalid):
            x = None
        if x is not None:
            ok = np.isfinite(x)
            if not (np.abs(x[ok]) >= 2.0**62).any():
                return pa.array(np.trunc(np.where(ok, x, 0)).astype(np.int64), mask=~ok)
    if not types <= {int, type(None)}:
        values = [v if type(v) is int else as_int(v) for v in values]  # strings (old dumps), bools, ...
    try:  # ints, but as_int's bound (+-2**62) still to check
        a = pa.array(values, pa.int64())
        lo, hi = (x.as_py() for x in pc.min_max(a).values())
        if lo is None or -(2**62) < lo <= hi < 2**62:
            return a
    except OverflowError:  # beyond int64
        pass
    return pa.array([as_int(v) for v in values], pa.int64())


class _BatchScanner:
    """Decoded submissions → the posts table of the usable ones (url key, score, created, subreddit) and a
    skip-reason code per post. :meth:`add` takes one decoded block (the per-object work, in Python:
    attributes and the flag checks of the odd posts); :meth:`scan` then works column by column on all the
    posts added since the last call (Arrow kernels, once per batch: their fixed costs, such as compiling
    the RE2 patterns, are paid per batch, not per block; Python only for the URLs
    :func:`filters.support.url_normalize.normalize_urls` cannot do in Arrow)."""

    def __init__(self, cfg: KarmaBuildConfig) -> None:
        self.cfg = cfg
        reasons = excluded_domains(cfg)
        # one RE2 pattern for all excluded domains over the keys (whose host part is normalized), then one
        # per reason (in SKIP_ORDER) over the few keys that hit
        self.domains_re = domains_regex(reasons) if reasons else None
        self.domain_res = [(r, domains_regex(d for d, why in reasons.items() if why == r))
                           for r in SKIP_ORDER if r in set(reasons.values())]
        self.fallback = lambda u: normalize_url(reddit_url(u) if "&" in u else u)
        self._reset()

    def _reset(self) -> None:
        self.rows = 0
        self._urls: list[str | None] = []  # as posted (for examples)
        self._todo: list[str | None] = []  # to normalize: None for posts already skipped
        self._scores: list[Any] = []
        self._created: list[Any] = []
        self._subreddits: list[str | None] = []
        self._codes: list[np.ndarray] = []

    def _odd_reason(self, s: Any) -> str | None:
        """The flag-based skip reason of one post (self, NSFW, deleted, removed), or None."""
        cfg = self.cfg
        if cfg.drop_self_posts and (s.is_self or (s.domain is not None and s.domain.startswith("self."))):
            return "self_post"
        if cfg.drop_nsfw and s.over_18:
            return "nsfw"
        if cfg.drop_deleted:
            rbc = s.removed_by_category
            if s.selftext == DELETED_RAW or rbc in DELETED_BY:
                return "deleted"
            if s.selftext == REMOVED_RAW or rbc is not None:
                return "removed"
        return None

    def add(self, subs: list[Any]) -> None:
        """Take one block of decoded submissions (they need not outlive this call)."""
        code = np.zeros(len(subs), np.int8)
        urls = list(map(_URL, subs))
        # posts with any skip flag set, whatever the options (a cheap pass: most posts have none);
        # _odd_reason then applies the options to these few
        odd = [i for i, s in enumerate(subs)
               if s.is_self or s.over_18 or s.removed_by_category is not None or s.selftext == DELETED_RAW
               or s.selftext == REMOVED_RAW or (s.domain is not None and s.domain.startswith("self."))]
        todo = urls
        if odd:
            todo = list(urls)
            for i in odd:
                r = self._odd_reason(subs[i])
                if r is not None:
                    code[i] = _CODE[r]
                    todo[i] = None  # no need to normalize it
        self._urls += urls
        self._todo += todo
        self._scores += map(_SCORE, subs)
        self._created += map(_CREATED, subs)
        self._subreddits += map(_SUBREDDIT, subs)
        self._codes.append(code)
        self.rows += len(subs)

    def scan(self) -> tuple[pa.Table, np.ndarray, list[str | None]]:
        """(posts table of the kept posts, skip code per post, URL per post as posted) of the posts added
        since the last call."""
        urls, todo = self._urls, self._todo
        code = np.concatenate(self._codes) if self._codes else np.zeros(0, np.int8)
        scores = _ints(self._scores)
        created = _ints(self._created)
        subreddits = pa.array(self._subreddits, pa.string())
        self._reset()
        raw = pa.array(todo, pa.string())
        no_url = pc.fill_null(pc.equal(raw, ""), True).to_numpy(zero_copy_only=False)
        code[(code == 0) & no_url] = _CODE["no_url"]
        keys = normalize_urls(todo, self.fallback, amp_entities=True, arr=raw)
        live = code == 0
        code[live & ~pc.is_valid(keys).to_numpy(zero_copy_only=False)] = _CODE["bad_url"]
        if self.domains_re is not None:
            hit = pc.fill_null(pc.match_substring_regex(keys, self.domains_re), False).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(hit & (code == 0))
            if len(rows):
                hit_keys = keys.take(pa.array(rows))
                for reason, pattern in self.domain_res:
                    mine = pc.match_substring_regex(hit_keys, pattern).to_numpy(zero_copy_only=False)
                    code[rows[mine & (code[rows] == 0)]] = _CODE[reason]
        if self.cfg.drop_image_hosts:
            media = pc.fill_null(pc.match_substring_regex(keys, _MEDIA_RE), False).to_numpy(zero_copy_only=False)
            code[(code == 0) & media] = _CODE["media_file"]
        code[(code == 0) & ~pc.is_valid(scores).to_numpy(zero_copy_only=False)] = _CODE["no_score"]
        keep = pa.array(code == 0)
        posts = pa.table({"url": keys, "score": scores, "created": created, "subreddit": subreddits}).filter(keep)
        return posts, code, urls


class DumpScan:
    """What the scan of one dump has gathered so far: skip counts and example URLs per reason, and the usable
    posts, buffered raw (``raw``) and folded now and then into a running per-URL aggregate (``folded``).

    :meth:`fold` aggregates the buffered posts once they hold as many rows as the aggregate does, or
    ``fold_rows``. Memory stays O(distinct URLs + fold_rows) however long the dump (repeated URLs collapse at
    each fold), and every post is aggregated once plus O(1) re-aggregations on average (the aggregate at least
    doubles between folds when URLs are distinct). Before the first fold, if at least 90% of the buffered
    posts' URLs are distinct, folding would not shrink them (memory is O(distinct URLs) either way) and would
    group them twice: they stay raw and the check comes again at twice as many rows."""

    def __init__(self, how: str, fold_rows: int) -> None:
        self.how = how
        self.fold_rows = fold_rows
        self.counts = np.zeros(len(SKIP_ORDER) + 1, np.int64)  # per skip code; code 0 = used
        self.examples: dict[str, list[str]] = {}
        self.raw: list[pa.Table] = []  # posts not aggregated yet
        self.pending = 0  # rows in ``raw``
        self.threshold = fold_rows  # fold when ``pending`` reaches this
        self.folded: tuple[pa.Table, pa.Table] | None = None  # (main, subs) of the posts folded so far

    def take(self, posts: pa.Table, code: np.ndarray, urls: list[str | None]) -> None:
        """One scanned batch: its skip codes (and a few example URLs per reason) and its usable posts."""
        self.counts += np.bincount(code, minlength=len(self.counts))
        for reason in _EXAMPLE_REASONS:
            got = self.examples.setdefault(reason, [])
            if len(got) < 3 and self.counts[_CODE[reason]]:
                for i in np.flatnonzero(code == _CODE[reason])[: 3 - len(got)].tolist():
                    got.append((urls[i] or "")[:200])
        if posts.num_rows:
            self.raw.append(posts)
            self.pending += posts.num_rows
            self.fold()

    def fold(self, final: bool = False) -> None:
        """Aggregate the buffered posts into ``folded`` when due (or now, with ``final``)."""
        if not self.raw or not (final or self.pending >= self.threshold):
            return
        t = pa.concat_tables(self.raw)
        if not final and self.folded is None and pc.count_distinct(t["url"]).as_py() >= 0.9 * t.num_rows:
            self.raw = [t]
            self.threshold = 2 * self.pending
            return
        m, s = aggregate_posts(t, self.how)
        self.raw, self.pending = [], 0
        self.folded = combine([self.folded, (m, s)], self.how) if self.folded else (m, s)
        self.threshold = max(self.folded[0].num_rows, self.fold_rows)

    def skipped(self) -> dict[str, int]:
        return {r: int(self.counts[_CODE[r]]) for r in SKIP_ORDER if self.counts[_CODE[r]]}


def scan_dump(path: str, config: KarmaBuildConfig | None = None, *, raw_tail: bool = False) -> Partial:
    """Map step: one dump file → per-URL aggregates of its usable posts, and counters. Pure; no Dask.

    With ``raw_tail`` the posts read since the last fold (at most ``8 * flush_rows``) stay raw in
    ``Partial.posts`` for the reduce to aggregate: a dump with few repeated URLs is then grouped once,
    in the reduce, instead of twice."""
    cfg = config or KarmaBuildConfig()
    scanner = _BatchScanner(cfg)
    report = ReadReport(path)
    scan = DumpScan(cfg.aggregate, 8 * cfg.flush_rows)
    for block in iter_line_blocks(path, report, chunk_bytes=cfg.chunk_bytes):
        subs = decode_block(block, report)
        if subs:
            scanner.add(subs)
            if scanner.rows >= cfg.flush_rows:
                scan.take(*scanner.scan())
    if scanner.rows:
        scan.take(*scanner.scan())
    tail = POSTS_SCHEMA.empty_table()
    if raw_tail and scan.raw:
        tail = pa.concat_tables(scan.raw)
    else:
        scan.fold(final=True)
    examples = {k: v for k, v in scan.examples.items() if v}
    skipped = scan.skipped()
    main, sub = scan.folded if scan.folded else (MAIN_SCHEMA.empty_table(), SUBS_SCHEMA.empty_table())

    c = Counters(documents_in=report.lines)
    c.documents_out = report.lines - report.malformed - sum(skipped.values())
    if report.malformed:
        c.remove("malformed_json", report.malformed)
        examples["malformed_json"] = report.malformed_examples
    for reason, n in skipped.items():
        c.remove(reason, n)
    c.extra = {**file_health(report, c), "bytes_decompressed": report.bytes_in,
               "formats": {report.format or "unknown": 1}, "examples": examples}
    return Partial(main, sub, c, tail)


def file_health(report: Any, c: Counters) -> dict[str, Any]:
    """``files``, ``files_read`` (1 only if at least one line is a JSON object: random bytes, an empty file or
    one cut before its first line read nothing), ``files_damaged`` and ``problem_files`` for one dump; the
    file-level errors (``not_a_dump``, ``empty_file``, ``truncated_file``, ``corrupt_file``,
    ``unreadable_file``) are counted in ``c.errors``."""
    path, good = report.path, report.lines - report.malformed
    problems: list[dict[str, str]] = []

    def problem(error: str, text: str) -> None:
        c.error(error)
        problems.append({"path": path, "problem": text})

    if report.error and report.error.startswith("unreadable"):
        problem("unreadable_file", report.error)
    elif report.error:
        problem("corrupt_file", f"{report.error}; {good:,} lines before it used")
    if report.truncated:
        problem("truncated_file", f"truncated {report.format} stream: cut after {report.bytes_in:,} decompressed "
                                  f"bytes; the {good:,} lines before the cut are used (a line cut in two counts "
                                  "as malformed_json)")
    elif report.lines and not good:
        problem("not_a_dump", f"none of its {report.lines:,} lines is a JSON object: not a Pushshift dump?")
    elif not report.lines and not report.error and not report.truncated:
        problem("empty_file", "no lines in it")
    return {"files": 1, "files_read": int(good > 0), "files_damaged": int(bool(problems)), "problem_files": problems}


def scan_dump_split(path: str, config: KarmaBuildConfig, n: int) -> list[Partial]:
    """:func:`scan_dump`, split into ``n`` URL hash buckets (the map task of the Dask run)."""
    return split_partial(scan_dump(path, config, raw_tail=True), n)
