"""``karma build``: Pushshift submission dumps → a karma table (normalized URL → Reddit karma).

WebText kept the pages that Reddit posts with at least 3 karma link to. This builds that signal:

    corpus-forge karma build RS_2019-*.zst --out karma_table/ [--min-karma 3] [--aggregate best|sum]

Map (one Dask task per dump file, :func:`scan_dump`, a pure function): stream the dump in blocks of
whole lines, decode each block in one ``msgspec`` call, and work on every ``flush_rows`` submissions
column by column (Arrow kernels have fixed costs per call, so batches beat blocks): skip posts that
are not links to pages, normalize the URLs (:func:`filters.support.url_normalize.normalize_urls`: Arrow kernels
for plain URLs, the one-URL function for the rest), check domains and file types with Arrow regexes.
Posts stay raw in Arrow tables; every ``8 * flush_rows`` posts (at most) they are folded into per-URL
aggregates when their URLs repeat (bounded memory; posts whose URLs are >= 90% distinct are not folded,
since that would not shrink them), and what is left at the end goes to the reduce raw, to be grouped once
there (:mod:`pipelines.karma.aggregate`). The map's output is split into one hash bucket
of URLs per Dask worker (:func:`url_buckets`). Reduce, in the step's ``finalize`` (run by the one runner), per
bucket and in parallel: a tree of :func:`merge_partials` tasks, then :func:`write_bucket` keeps URLs with
``karma >= min_karma`` and writes the bucket's part (the format: :mod:`filters.karma_table`)

    TABLE_DIR/karma-part-BBBBB.parquet   url (normalized key), karma, posts, subreddits (top 3 by posts),
                                         first_seen; each URL in exactly one part, each part sorted by URL
    TABLE_DIR/stats.json      lines read, malformed, skipped per reason, posts used, URLs kept, files
    TABLE_DIR/removed/part-BBBBB.parquet   with --keep-removed: URLs below min_karma, reason low_karma
    TABLE_DIR/_SUCCESS

The karma URL filter reads ``TABLE_DIR``.

Posts are skipped under one reason each, checked in this order: ``malformed_json``, ``self_post``,
``nsfw``, ``deleted``, ``removed``, ``no_url``, ``bad_url`` (not an http(s) URL), ``reddit_internal``,
``image_host`` (image/video hosts, after OpenWebText's list), ``media_file`` (a direct link to an image,
video or audio file), ``no_score``.
``documents_in`` (lines) == ``documents_out`` (posts used) + sum(skipped).

Aggregation: ``best`` (the best single post, as WebText and OpenWebText) or ``sum`` (over all posts of
the URL, as OpenWebText2). ``posts``, ``subreddits`` and ``first_seen`` cover every post that was used.

Apply the table before extraction (pushdown) or to documents (``filters.url_filters``):

    corpus-forge extract CC-MAIN-*.warc.gz --url-filter '{type: karma, table: karma_table/}' --out docs/

Where the dumps do not cover the crawl's months, use ``annotate_only: true``: it adds ``karma`` (null when
unknown) and drops nothing, instead of dropping every page.
"""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass
from typing import Any, Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from corpus_forge.config import StageConfig
from corpus_forge.io import (
    atomic_write,
    expand_inputs,
    path_exists,
    path_key,
    read_json,
    url_to_fs,
    write_json_atomic,
    write_parquet_atomic,
)
from corpus_forge.schema import with_reason
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters
from filters.karma_table import PART_GLOB, part_name
from filters.support.url_normalize import domains_regex, normalize_url, normalize_urls
from pipelines.karma import report
from pipelines.karma.aggregate import (
    MAIN_SCHEMA,
    POSTS_SCHEMA,
    SUBS_SCHEMA,
    Partial,
    aggregate_posts,
    combine,
    karma_tables,
    merge_partials,
    split_partial,
)
from pipelines.karma.pushshift import (
    DELETED_RAW,
    REMOVED_RAW,
    ReadReport,
    as_int,
    decode_block,
    iter_line_blocks,
    reddit_url,
)

# Partial tables come back from Dask workers in buffers that need not be 64-byte aligned; let Acero
# (Arrow's group-by engine) copy those instead of printing a warning for each. Read once per process.
os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")


# Reddit's own hosts: links to other threads, uploads and redirects, not outside pages.
REDDIT_DOMAINS: frozenset[str] = frozenset(
    {"reddit.com", "redd.it", "redditmedia.com", "reddituploads.com", "redditstatic.com", "reddit.app.link"}
)
# Image, video and audio hosts (after OpenWebText's exclude list): pages with no text to extract.
IMAGE_HOSTS: frozenset[str] = frozenset(
    {
        "imgur.com", "gfycat.com", "giphy.com", "redgifs.com", "flickr.com", "flic.kr", "staticflickr.com",
        "twimg.com", "tinypic.com", "photobucket.com", "postimg.cc", "postimages.org", "ibb.co",
        "imgbox.com", "gyazo.com", "imgflip.com", "prnt.sc", "sli.mg", "magaimg.net", "instagram.com",
        "deviantart.com", "pinterest.com", "youtube.com", "youtu.be", "vimeo.com", "streamable.com",
        "twitch.tv", "soundcloud.com", "bandcamp.com",
    }
)
MEDIA_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".bmp", ".tif", ".tiff", ".svg",
    ".mp4", ".webm", ".mov", ".avi", ".mkv", ".mp3", ".wav", ".ogg", ".ogv", ".flac",
)
_DELETED_BY = frozenset({"deleted", "author"})  # removed_by_category values meaning the author deleted it


class KarmaBuildConfig(StageConfig):
    """Options of ``karma build`` (keys as in a recipe's ``karma:`` block)."""

    min_karma: int = Field(3, description="keep URLs whose karma is at least this (WebText: 3)")
    aggregate: Literal["best", "sum"] = Field(
        "best", description="best single post (WebText/OpenWebText) or sum over posts (OpenWebText2)")
    drop_self_posts: bool = Field(True, description="skip text posts, which link no outside page (WebText)")
    drop_nsfw: bool = Field(True, description="skip posts marked NSFW (over_18; OpenWebText)")
    drop_deleted: bool = Field(True, description="drop posts deleted by their author or removed by mods")
    drop_reddit_internal: bool = Field(True, description="skip links to Reddit's own hosts (reddit.com, redd.it, "
                                                          "...)")
    drop_image_hosts: bool = Field(True, description="skip links to image, video and audio hosts and to media "
                                                     "files (after OpenWebText's exclude list)")
    top_subreddits: int = Field(3, ge=0, description="subreddits kept per URL, by number of posts")
    flush_rows: int = Field(100_000, gt=0, description="submissions scanned at a time; up to 8x this many "
                                                       "posts are buffered before they are aggregated")
    chunk_bytes: int = Field(4 << 20, gt=0, description="decompressed bytes decoded at a time")


def excluded_domains(config: KarmaBuildConfig) -> dict[str, str]:
    """The domains the options exclude (subdomains match too), each with its skip reason."""
    reasons: dict[str, str] = {}
    if config.drop_image_hosts:
        reasons.update(dict.fromkeys(IMAGE_HOSTS, "image_host"))
    if config.drop_reddit_internal:
        reasons.update(dict.fromkeys(REDDIT_DOMAINS, "reddit_internal"))
    return reasons


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
            if s.selftext == DELETED_RAW or rbc in _DELETED_BY:
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


def write_bucket(partial: Partial, out_dir: str, config: KarmaBuildConfig, part: int,
                 keep_removed: bool = False) -> tuple[Counters, int, int]:
    """Write one hash bucket of the table, ``karma-part-PPPPP.parquet``: the bucket's URLs with ``karma >=
    min_karma``, sorted by URL, with the options in the schema metadata; with ``keep_removed`` also the rest as
    ``removed/part-PPPPP.parquet`` (reason ``low_karma``). Returns the counters, distinct URLs and URLs kept.
    Runs on a worker."""
    partial = partial.aggregated(config.aggregate)
    meta = {"min_karma": config.min_karma, "aggregate": config.aggregate, "config": config.model_dump(mode="json")}
    table, below = karma_tables(partial, config.min_karma, config.top_subreddits, meta)
    write_parquet_atomic(table, os.path.join(out_dir, part_name(part)))
    if keep_removed:
        below = below.set_column(below.schema.get_field_index("first_seen"), "first_seen",
                                 below["first_seen"].cast(pa.timestamp("s", tz="UTC")))
        write_parquet_atomic(with_reason(below.sort_by("url"), "low_karma"),
                             os.path.join(out_dir, "removed", f"part-{part:05d}.parquet"))
    return partial.counters, partial.main.num_rows, table.num_rows


def table_stats(c: Counters, distinct: int, kept: int, config: KarmaBuildConfig, table: str) -> dict[str, Any]:
    """The karma figures of ``stats.json`` beyond the counters."""
    removed = dict(sorted(c.removed.items()))
    return {
        "lines_read": c.documents_in,
        "malformed": removed.get("malformed_json", 0),
        "skipped": {k: v for k, v in removed.items() if k != "malformed_json"},
        "posts_used": c.documents_out,
        "urls_distinct": distinct,
        "urls_kept": kept,
        "min_karma": config.min_karma,
        "aggregate": config.aggregate,
        "table": table,
    }


def _clear_tables(out_dir: str) -> None:
    """Remove the table parts of an earlier run, so no stale part is read with the new ones."""
    fs, root = url_to_fs(out_dir)
    for p in [*fs.glob(root.rstrip("/") + "/" + PART_GLOB), *fs.glob(root.rstrip("/") + "/removed/part-*.parquet")]:
        fs.rm(p)


# ---- the step: map = scan each dump into URL hash buckets; finalize = merge and write each bucket ------------
@dataclass(frozen=True)
class KarmaContext:
    """Broadcast to every scan task: how many URL hash buckets, and where the buckets go."""

    buckets: int
    scan_dir: str


def save_partial(partial: Partial, prefix: str) -> None:
    """Write a bucket's tables (aggregated and raw posts) as Arrow IPC files ``PREFIX.{main,subs,posts}``."""
    import pyarrow.ipc as ipc

    for name in ("main", "subs", "posts"):
        table: pa.Table = getattr(partial, name)
        with atomic_write(f"{prefix}.{name}") as f, ipc.new_file(f, table.schema) as w:
            w.write_table(table)


def load_partial(prefix: str) -> Partial:
    """The tables :func:`save_partial` wrote (counters stay with the runner's markers)."""
    import pyarrow.ipc as ipc

    tables = {}
    for name in ("main", "subs", "posts"):
        with fsspec.open(f"{prefix}.{name}", "rb") as f:
            tables[name] = ipc.open_file(f).read_all()
    return Partial(tables["main"], tables["subs"], Counters(), tables["posts"])


class KarmaBuildStage(Stage):
    """``karma build`` as a step: one scan task per dump, then a parallel merge per URL hash bucket."""

    name = "karma"
    command = ("karma", "build")
    Config = KarmaBuildConfig
    help = "Reddit karma table from Pushshift dumps (WebText's link filter)"
    writes_documents = False
    inputs_metavar = "DUMP"
    inputs_help = "Pushshift RS_* dumps (.zst, .xz, .bz2, .gz or NDJSON): files, globs, directories, URLs"

    def partitions(self, inputs: list[str]) -> list[Partition]:
        return [Partition(key=path_key(f), path=f) for f in expand_inputs(inputs)]

    def prepare(self, partitions: list[Partition], run: RunContext) -> KarmaContext:
        # URLs are split into one hash bucket per worker in each scan task; each bucket is merged and
        # written (karma-part-BBBBB.parquet) by its own tasks. The count is kept for reruns.

        path = os.path.join(run.work_dir, "buckets.json")
        if path_exists(path):
            n = int(read_json(path)["buckets"])
        else:
            n = max(1, min(len(run.client.scheduler_info().get("workers", {})) or 1, 64))
            write_json_atomic({"buckets": n}, path)
        return KarmaContext(n, os.path.join(run.work_dir, "scan"))

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        buckets = scan_dump_split(part.path, self.config, ctx.buckets)
        for b, partial in enumerate(buckets):
            save_partial(partial, os.path.join(ctx.scan_dir, part.key, f"bucket-{b:05d}"))
        c = buckets[0].counters  # bucket 0 carries the dump's counters
        c.extra["buckets"] = ctx.buckets
        return PartitionResult(None, None, c)

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        cfg, client = self.config, run.client
        if not counters.extra.get("files_read"):
            raise RuntimeError(f"karma build: no dump could be read ({counters.extra.get('problem_files')})")
        n = int(markers[0]["buckets"])
        scan_dir = os.path.join(run.work_dir, "scan")
        keys = sorted(m["key"] for m in markers)
        _clear_tables(run.out_dir)
        writes = []
        for b in range(n):
            level = [client.submit(load_partial, os.path.join(scan_dir, k, f"bucket-{b:05d}"), pure=False)
                     for k in keys]
            while len(level) > 1:  # tree reduction per bucket, fan-in 8
                level = [client.submit(merge_partials, level[i : i + 8], cfg.aggregate, pure=False)
                         for i in range(0, len(level), 8)]
            writes.append(client.submit(write_bucket, level[0], run.out_dir, cfg, b, run.keep_removed, pure=False))
        results = client.gather(writes)
        return table_stats(counters, sum(r[1] for r in results), sum(r[2] for r in results), cfg,
                           os.path.join(run.out_dir, PART_GLOB))

    print_report = staticmethod(report.print_summary)
    report_section = staticmethod(report.section)
