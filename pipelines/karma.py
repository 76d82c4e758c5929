"""``karma build``: Pushshift submission dumps → a karma table (normalized URL → Reddit karma).

WebText kept the pages that Reddit posts with at least 3 karma link to. This builds that signal:

    corpus-forge karma build RS_2019-*.zst --out karma_table/ [--min-karma 3] [--aggregate best|sum]

Map (one Dask task per dump file, :func:`scan_dump`, a pure function): stream the dump, drop posts that
are not links to pages, normalize each URL (:mod:`filters.url_normalize`) and aggregate per URL into a
small Arrow table every ``flush_rows`` posts (bounded memory), then split it into one hash bucket of URLs
per Dask worker (:func:`url_buckets`). Reduce, per bucket and in parallel: a tree of :func:`merge_partials`
tasks, then :func:`finalize` keeps URLs with ``karma >= min_karma`` and writes the bucket's part

    TABLE_DIR/karma-part-BBBBB.parquet   url (normalized key), karma, posts, subreddits (top 3 by posts),
                                         first_seen; each URL in exactly one part, each part sorted by URL
    TABLE_DIR/stats.json      lines read, malformed, skipped per reason, posts used, URLs kept, files
    TABLE_DIR/removed/part-BBBBB.parquet   with --keep-removed: URLs below min_karma, reason low_karma
    TABLE_DIR/_SUCCESS

(:func:`build_local`, one process, writes the same rows as one ``TABLE_DIR/karma.parquet``.) The karma
URL filter reads ``TABLE_DIR`` either way.

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

import argparse
import json
import operator
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from corpus_forge.config import StageConfig, validate
from corpus_forge.stats import Counters
from filters.url_normalize import DomainSet

# Partial tables come back from Dask workers in buffers that need not be 64-byte aligned; let Acero
# (Arrow's group-by engine) copy those instead of printing a warning for each. Read once per process.
os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")

TABLE_FILE = "karma.parquet"
PART_GLOB = "karma-part-*.parquet"  # the table as hash partitions (the Dask run), read together
META_KEY = b"corpus_forge.karma"

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
    drop_self_posts: bool = True
    drop_nsfw: bool = True
    drop_deleted: bool = Field(True, description="drop posts deleted by their author or removed by mods")
    drop_reddit_internal: bool = True
    drop_image_hosts: bool = True
    top_subreddits: int = Field(3, ge=0, description="subreddits kept per URL, by number of posts")
    flush_rows: int = Field(100_000, gt=0, description="posts buffered before aggregating into Arrow")
    chunk_bytes: int = Field(1 << 20, gt=0, description="decompressed bytes read at a time")


@dataclass
class Partial:
    """Per-URL aggregates of some posts: ``main`` (url, karma, posts, first_seen), ``subs`` (url,
    subreddit, n) and the counters of the lines read."""

    main: pa.Table
    subs: pa.Table
    counters: Counters = field(default_factory=Counters)


MAIN_SCHEMA = pa.schema([("url", pa.string()), ("karma", pa.int64()), ("posts", pa.int64()),
                         ("first_seen", pa.int64())])
SUBS_SCHEMA = pa.schema([("url", pa.string()), ("subreddit", pa.string()), ("n", pa.int64())])
TABLE_SCHEMA = pa.schema([("url", pa.string()), ("karma", pa.int64()), ("posts", pa.int64()),
                          ("subreddits", pa.list_(pa.string())),
                          ("first_seen", pa.timestamp("s", tz="UTC"))])


def _agg(how: str) -> str:
    return "max" if how == "best" else "sum"


def _posts_table(urls: list[str], scores: list[int], created: list[int | None],
                 subs: list[str | None]) -> pa.Table:
    return pa.table({"url": pa.array(urls, pa.string()), "score": pa.array(scores, pa.int64()),
                     "created": pa.array(created, pa.int64()), "subreddit": pa.array(subs, pa.string())})


def _aggregate_posts(t: pa.Table, how: str) -> tuple[pa.Table, pa.Table]:
    """Posts (url, score, created, subreddit) → per-URL (main) and per-(URL, subreddit) (subs) tables."""
    main = t.group_by("url", use_threads=False).aggregate(
        [("score", _agg(how)), ("score", "count"), ("created", "min")])
    main = main.select(["url", f"score_{_agg(how)}", "score_count", "created_min"]).rename_columns(
        MAIN_SCHEMA.names).cast(MAIN_SCHEMA)
    t = t.filter(pc.is_valid(t["subreddit"]))
    sub = t.group_by(["url", "subreddit"], use_threads=False).aggregate([("score", "count")])
    sub = sub.select(["url", "subreddit", "score_count"]).rename_columns(SUBS_SCHEMA.names).cast(SUBS_SCHEMA)
    return main, sub


def _combine(mains: list[pa.Table], subs: list[pa.Table], how: str) -> tuple[pa.Table, pa.Table]:
    if len(mains) == 1:
        return mains[0], subs[0]
    m = pa.concat_tables(mains).group_by("url", use_threads=False).aggregate(
        [("karma", _agg(how)), ("posts", "sum"), ("first_seen", "min")])
    m = m.select(["url", f"karma_{_agg(how)}", "posts_sum", "first_seen_min"]).rename_columns(
        MAIN_SCHEMA.names).cast(MAIN_SCHEMA)
    s = pa.concat_tables(subs).group_by(["url", "subreddit"], use_threads=False).aggregate([("n", "sum")])
    s = s.select(["url", "subreddit", "n_sum"]).rename_columns(SUBS_SCHEMA.names).cast(SUBS_SCHEMA)
    return m, s


def excluded_domains(config: KarmaBuildConfig) -> tuple[DomainSet, dict[str, str]]:
    """The domains the options exclude (subdomains match too), and each one's skip reason."""
    reasons: dict[str, str] = {}
    if config.drop_image_hosts:
        reasons.update(dict.fromkeys(IMAGE_HOSTS, "image_host"))
    if config.drop_reddit_internal:
        reasons.update(dict.fromkeys(REDDIT_DOMAINS, "reddit_internal"))
    return DomainSet(reasons), reasons


def scan_dump(path: str, config: KarmaBuildConfig | None = None) -> Partial:
    """Map step: one dump file → per-URL aggregates of its usable posts, and counters. Pure; no Dask."""
    from msgspec import DecodeError, ValidationError

    from filters.pushshift import (
        DELETED_RAW,
        REMOVED_RAW,
        SUBMISSION_DECODER,
        ReadReport,
        as_int,
        iter_line_batches,
        lenient_decode,
        reddit_url,
    )
    from filters.url_normalize import normalize_url_host

    cfg = config or KarmaBuildConfig()
    decode = SUBMISSION_DECODER.decode
    how = cfg.aggregate
    excluded, reasons = excluded_domains(cfg)
    drop_self, drop_nsfw, drop_del = cfg.drop_self_posts, cfg.drop_nsfw, cfg.drop_deleted
    media = cfg.drop_image_hosts
    report = ReadReport(path)
    skipped: Counter = Counter()
    examples: dict[str, list[str]] = {}
    urls: list[str] = []
    scores: list[int] = []
    created: list[int | None] = []
    subs: list[str | None] = []
    raw: list[pa.Table] = []  # posts not aggregated yet
    big: tuple[pa.Table, pa.Table] | None = None  # (main, subs) aggregate of the posts folded so far
    fold_rows = 8 * cfg.flush_rows

    def skip(reason: str, example: str | None = None) -> None:
        skipped[reason] += 1
        if example is not None and len(examples.setdefault(reason, [])) < 3:
            examples[reason].append(example[:200])

    def flush(final: bool = False) -> None:
        """Move the buffered posts into an Arrow table; aggregate the buffered tables (into the running
        aggregate ``big``) once they hold as many rows as it does, or ``fold_rows``. Memory stays
        O(distinct URLs + fold_rows) however long the dump (repeated URLs collapse at each fold), and
        every post is aggregated once plus O(1) re-aggregations on average (``big`` at least doubles
        between folds when URLs are distinct)."""
        nonlocal big
        if urls:
            raw.append(_posts_table(urls, scores, created, subs))
            urls.clear(), scores.clear(), created.clear(), subs.clear()
        pending = sum(t.num_rows for t in raw)
        if raw and (final or pending >= max(big[0].num_rows if big else 0, fold_rows)):
            m, s = _aggregate_posts(pa.concat_tables(raw), how)
            raw.clear()
            big = _combine([big[0], m], [big[1], s], how) if big else (m, s)

    append_url, append_score, append_created, append_sub = urls.append, scores.append, created.append, subs.append
    flush_rows = cfg.flush_rows
    match = excluded.match if excluded else None
    host_hits: dict[str, str | None] = {}  # host → excluded entry (hosts repeat far more than URLs)
    no_hit = object()

    for batch in iter_line_batches(path, report, chunk_bytes=cfg.chunk_bytes):
        for line in batch:
            try:
                s = decode(line)
            except ValidationError:  # a field of an unexpected type: decode leniently
                s = lenient_decode(line)
            except DecodeError:
                s = None
            if s is None:
                report.note_malformed(line)
                continue
            if drop_self and (s.is_self or (s.domain is not None and s.domain.startswith("self."))):
                skip("self_post")
                continue
            if drop_nsfw and s.over_18:
                skip("nsfw")
                continue
            if drop_del:
                sel = s.selftext
                rbc = s.removed_by_category
                if sel == DELETED_RAW or rbc in _DELETED_BY:
                    skip("deleted", s.url)
                    continue
                if sel == REMOVED_RAW or rbc is not None:
                    skip("removed", s.url)
                    continue
            raw_url = s.url
            if not raw_url:
                skip("no_url")
                continue
            parts = normalize_url_host(reddit_url(raw_url) if "&" in raw_url else raw_url)
            if parts is None:
                skip("bad_url", raw_url)
                continue
            key, host = parts
            if match is not None:
                hit = host_hits.get(host, no_hit)
                if hit is no_hit:
                    if len(host_hits) >= 100_000:  # bounded memory
                        host_hits.clear()
                    hit = host_hits[host] = match(host)
                if hit is not None:
                    skip(reasons[hit], raw_url)
                    continue
            if media and key.partition("?")[0].lower().endswith(MEDIA_EXTENSIONS):
                skip("media_file", raw_url)
                continue
            score = s.score
            if type(score) is not int:
                score = as_int(score)
                if score is None:
                    skip("no_score", raw_url)
                    continue
            t = s.created_utc
            append_url(key)
            append_score(score)
            append_created(t if type(t) is int else as_int(t))
            append_sub(s.subreddit)
            if len(urls) >= flush_rows:
                flush()
    flush(final=True)
    main, sub = big if big else (MAIN_SCHEMA.empty_table(), SUBS_SCHEMA.empty_table())

    c = Counters(documents_in=report.lines)
    c.documents_out = report.lines - report.malformed - sum(skipped.values())
    if report.malformed:
        c.remove("malformed_json", report.malformed)
        examples["malformed_json"] = report.malformed_examples
    for reason, n in skipped.items():
        c.remove(reason, n)
    problems = []
    if report.lines and report.malformed == report.lines:
        c.error("not_a_dump")
        problems.append({"path": path, "problem": f"none of its {report.lines} lines is a JSON object: "
                                                  "not a Pushshift dump?"})
    if report.truncated:
        c.error("truncated_file")
        problems.append({"path": path, "problem": "truncated compressed stream (lines before the cut used)"})
    if report.error:
        c.error("unreadable_file" if report.error.startswith("unreadable") else "corrupt_file")
        problems.append({"path": path, "problem": report.error})
    c.extra = {"files": 1, "files_read": 0 if report.error and report.error.startswith("unreadable") else 1,
               "bytes_decompressed": report.bytes_in, "formats": {report.format or "unknown": 1},
               "examples": examples, "problem_files": problems}
    return Partial(main, sub, c)


def url_buckets(urls: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """A bucket in ``[0, n)`` per URL from a hash of its bytes (vectorized; the same in every process,
    unlike Python's ``hash``), so the rows of one URL land in the same bucket in every partial."""
    arr = urls.combine_chunks() if isinstance(urls, pa.ChunkedArray) else urls
    if n <= 1 or len(arr) == 0:
        return np.zeros(len(arr), dtype=np.int64)
    arr = arr.cast(pa.large_string())
    off = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    lo, hi = int(off[0]), int(off[-1])
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[lo:hi] if hi > lo else np.zeros(0, np.uint8)
    starts, ends = off[:-1] - lo, off[1:] - lo
    lengths = ends - starts
    pos = np.arange(hi - lo, dtype=np.uint64) - np.repeat(starts, lengths).astype(np.uint64)  # index in its URL
    vals = (data.astype(np.uint64) + np.uint64(1)) * (pos * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE5AB))
    cs = np.concatenate([np.zeros(1, np.uint64), np.cumsum(vals, dtype=np.uint64)])
    h = (cs[ends] - cs[starts]) * np.uint64(0xBF58476D1CE4E5B9)
    return ((h >> np.uint64(33)) % np.uint64(n)).astype(np.int64)


def split_partial(part: Partial, n: int) -> list[Partial]:
    """``part`` as ``n`` hash buckets of its URLs; the counters go with bucket 0 (others get empty ones)."""
    if n <= 1:
        return [part]
    bm, bs = url_buckets(part.main["url"], n), url_buckets(part.subs["url"], n)
    return [Partial(part.main.filter(pa.array(bm == b)), part.subs.filter(pa.array(bs == b)),
                    part.counters if b == 0 else Counters()) for b in range(n)]


def scan_dump_split(path: str, config: KarmaBuildConfig, n: int) -> list[Partial]:
    """:func:`scan_dump`, split into ``n`` URL hash buckets (the map task of the Dask run)."""
    return split_partial(scan_dump(path, config), n)


def merge_partials(parts: list[Partial], aggregate: str = "best") -> Partial:
    """Reduce step: combine the aggregates of several dump files (associative; a tree of these)."""
    counters = Counters()
    for p in parts:
        counters = counters.merge(p.counters)
    ex = counters.extra.get("examples", {})
    counters.extra["examples"] = {k: v[:3] for k, v in ex.items()}
    main, sub = _combine([p.main for p in parts], [p.subs for p in parts], aggregate)
    return Partial(main, sub, counters)


def _top_subreddits(subs: pa.Table, k: int) -> pa.Table:
    """url → list of its ``k`` most-posted subreddits (ties by name)."""
    if subs.num_rows == 0 or k == 0:
        return pa.table({"url": pa.array([], pa.string()), "subreddits": pa.array([], pa.list_(pa.string()))})
    s = subs.sort_by([("url", "ascending"), ("n", "descending"), ("subreddit", "ascending")])
    u = s["url"]
    n = s.num_rows
    is_start = np.ones(n, dtype=bool)
    if n > 1:
        is_start[1:] = pc.not_equal(u.slice(1), u.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    idx = np.arange(n)
    rank = idx - np.maximum.accumulate(np.where(is_start, idx, 0))
    s = s.filter(pa.array(rank < k))
    top = s.group_by("url", use_threads=False).aggregate([("subreddit", "list")])
    return top.rename_columns(["url", "subreddits"])


def finalize(partial: Partial, config: KarmaBuildConfig) -> tuple[pa.Table, pa.Table]:
    """(kept, below): URLs with ``karma >= min_karma`` in the table schema, sorted by URL; and the rest."""
    main = partial.main
    keep = pc.greater_equal(main["karma"], config.min_karma)
    kept, below = main.filter(keep), main.filter(pc.invert(keep))
    subs = partial.subs.filter(pc.is_in(partial.subs["url"], value_set=kept["url"]))
    top = _top_subreddits(subs, config.top_subreddits)
    # Arrow joins cannot carry list columns: look each URL up in ``top`` instead (missing → null)
    idx = pc.index_in(kept["url"], value_set=top["url"])
    table = kept.append_column("subreddits", top["subreddits"].take(idx)).sort_by("url")
    table = table.set_column(table.schema.get_field_index("first_seen"), "first_seen",
                             table["first_seen"].cast(pa.timestamp("s", tz="UTC")))
    table = table.select(TABLE_SCHEMA.names).cast(TABLE_SCHEMA)
    meta = {"min_karma": config.min_karma, "aggregate": config.aggregate,
            "config": config.model_dump(mode="json")}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    return table, below.sort_by("url")


def write_bucket(partial: Partial, out_dir: str, config: KarmaBuildConfig, keep_removed: bool = False,
                 part: int | None = None) -> tuple[Counters, int, int]:
    """Finalize and write one table file: ``karma.parquet`` (``part`` None) or ``karma-part-PPPPP.parquet``
    (one hash bucket of the URLs); with ``keep_removed`` also ``removed/part-PPPPP.parquet``. Returns the
    counters, distinct URLs and URLs kept. Runs on a worker."""
    from corpus_forge.io import write_parquet_atomic
    from corpus_forge.schema import with_reason

    table, below = finalize(partial, config)
    name = TABLE_FILE if part is None else f"karma-part-{part:05d}.parquet"
    write_parquet_atomic(table, os.path.join(out_dir, name))
    if keep_removed:
        below = below.set_column(below.schema.get_field_index("first_seen"), "first_seen",
                                 below["first_seen"].cast(pa.timestamp("s", tz="UTC")))
        write_parquet_atomic(with_reason(below, "low_karma"),
                             os.path.join(out_dir, "removed", f"part-{part or 0:05d}.parquet"))
    return partial.counters, partial.main.num_rows, table.num_rows


def _write_stats(c: Counters, distinct: int, kept: int, out_dir: str, config: KarmaBuildConfig,
                 table: str) -> dict:
    from corpus_forge.io import write_json_atomic

    c.check("karma build")
    removed = dict(sorted(c.removed.items()))
    stats: dict[str, Any] = {
        "stage": "karma",
        **c.to_dict(),
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
    write_json_atomic(stats, os.path.join(out_dir, "stats.json"))
    return stats


def write_table(partial: Partial, out_dir: str, config: KarmaBuildConfig, keep_removed: bool = False) -> dict:
    """Finalize and write ``karma.parquet`` and ``stats.json``; return the stats."""
    c, distinct, kept = write_bucket(partial, out_dir, config, keep_removed)
    return _write_stats(c, distinct, kept, out_dir, config, os.path.join(out_dir, TABLE_FILE))


def _clear_tables(out_dir: str) -> None:
    """Remove the table files of an earlier run (a single file or parts), so no stale part is read."""
    import glob

    if "://" in out_dir:
        return
    for p in [os.path.join(out_dir, TABLE_FILE), *glob.glob(os.path.join(out_dir, PART_GLOB)),
              *glob.glob(os.path.join(out_dir, "removed", "part-*.parquet"))]:
        if os.path.exists(p):
            os.remove(p)


class KarmaBuild:
    """``karma build`` as an object a recipe can run: not a per-partition Stage (it has a global reduce)."""

    name = "karma"

    def __init__(self, config: KarmaBuildConfig | None = None) -> None:
        self.config = config or KarmaBuildConfig()

    def run(self, inputs: list[str], out_dir: str, *, scheduler: str | None = None, workers: int | None = None,
            client: Any = None, keep_removed: bool = False, progress: bool = True) -> dict[str, Any]:
        """Map the dumps on Dask, reduce as a tree of tasks, write the table; return ``stats.json``."""
        from corpus_forge.cluster import get_client
        from corpus_forge.io import expand_inputs

        t0 = time.perf_counter()
        files = expand_inputs(inputs)
        out_dir = os.path.abspath(out_dir) if "://" not in out_dir else out_dir
        success = os.path.join(out_dir, "_SUCCESS")
        if os.path.exists(success):
            os.remove(success)
        _clear_tables(out_dir)
        if client is not None:
            stats = self._run(client, files, out_dir, keep_removed, progress)
        else:
            with get_client(scheduler, workers, quiet=not progress) as c:
                stats = self._run(c, files, out_dir, keep_removed, progress)
        stats["seconds"] = round(time.perf_counter() - t0, 3)
        from corpus_forge.io import write_json_atomic

        write_json_atomic(stats, os.path.join(out_dir, "stats.json"))
        if stats.get("files_read", 0) == 0:
            from corpus_forge.runner import StageError

            raise StageError(f"karma build: no dump could be read ({stats.get('problem_files')})")
        with open(success, "w") as f:
            f.write("")
        return stats

    def _run(self, client: Any, files: list[str], out_dir: str, keep_removed: bool, progress: bool) -> dict:
        from distributed import as_completed

        from corpus_forge.progress import PartitionProgress

        cfg = self.config
        # URLs are split into hash buckets in each map task; each bucket is merged, finalized and written
        # (karma-part-BBBBB.parquet) by its own tasks, in parallel, instead of one merge-and-write task.
        n = max(1, min(len(client.scheduler_info().get("workers", {})) or 1, 64))
        futures = [client.submit(scan_dump_split, f, cfg, n, key=f"karma-scan-{i}-{os.urandom(4).hex()}",
                                 pure=False) for i, f in enumerate(files)]
        with PartitionProgress("karma scan", enabled=progress) as bar:
            bar.update(0, len(futures))
            for done, _ in enumerate(as_completed(futures), 1):
                bar.update(done, len(futures))
        writes = []
        for b in range(n):
            level = [client.submit(operator.getitem, f, b, pure=False) for f in futures]
            while len(level) > 1:  # tree reduction per bucket, fan-in 8
                level = [client.submit(merge_partials, level[i : i + 8], cfg.aggregate, pure=False)
                         for i in range(0, len(level), 8)]
            writes.append(client.submit(write_bucket, level[0], out_dir, cfg, keep_removed, b, pure=False))
        results = client.gather(writes)
        del futures
        counters = results[0][0]  # bucket 0 holds every file's counters
        ex = counters.extra.get("examples", {})
        counters.extra["examples"] = {k: v[:3] for k, v in ex.items()}
        stats = _write_stats(counters, sum(r[1] for r in results), sum(r[2] for r in results), out_dir, cfg,
                             os.path.join(out_dir, PART_GLOB))
        stats["partitions"] = len(files)
        stats["partitions_done"] = stats.get("files_read", 0)
        return stats


def build_local(inputs: list[str], out_dir: str, config: KarmaBuildConfig | None = None,
                keep_removed: bool = False) -> dict[str, Any]:
    """The same map/reduce in this process, without Dask (tests, small dumps)."""
    from corpus_forge.io import expand_inputs

    cfg = config or KarmaBuildConfig()
    _clear_tables(out_dir)
    parts = [scan_dump(f, cfg) for f in expand_inputs(inputs)]
    return write_table(merge_partials(parts, cfg.aggregate), out_dir, cfg, keep_removed)


# ---- CLI and recipe -------------------------------------------------------------------------
def from_options(options: dict[str, Any]) -> KarmaBuild:
    return KarmaBuild(validate(KarmaBuildConfig, options, "karma"))


def register(sub: argparse._SubParsersAction) -> None:
    from corpus_forge.cli_common import add_stage_options

    p = sub.add_parser("karma", help="Reddit karma table from Pushshift dumps (WebText's link filter)",
                       description="Reddit karma: build a table of normalized URL → karma from Pushshift "
                                   "submission dumps; apply it with the 'karma' URL filter.")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    ksub = p.add_subparsers(dest="karma_command", metavar="SUBCOMMAND")
    b = ksub.add_parser("build", help="Pushshift submission dumps → TABLE_DIR/karma-part-*.parquet",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("dumps", nargs="+", metavar="DUMP",
                   help="Pushshift RS_* dumps (.zst, .xz, .bz2, .gz or NDJSON): files, globs, directories, URLs")
    b.add_argument("--min-karma", type=int, default=None, help="keep URLs with karma >= this (default 3)")
    b.add_argument("--aggregate", choices=["best", "sum"], default=None,
                   help="best single post (WebText, default) or sum over posts (OpenWebText2)")
    b.add_argument("--top-subreddits", type=int, default=None, help="subreddits listed per URL (default 3)")
    for opt, what in (("self-posts", "self posts"), ("nsfw", "NSFW posts"),
                      ("deleted", "deleted and removed posts"), ("reddit-internal", "links to reddit's own hosts"),
                      ("image-hosts", "links to image/video hosts and media files")):
        b.add_argument(f"--keep-{opt}", dest=f"keep_{opt.replace('-', '_')}", action="store_true",
                       help=f"keep {what} (dropped by default)")
    add_stage_options(b)
    b.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from corpus_forge.cli_common import config_from_args
    from corpus_forge.progress import console, print_summary

    def flag(name: str) -> bool | None:
        return False if getattr(args, f"keep_{name}") else None

    opts = config_from_args(args, {
        "min_karma": args.min_karma, "aggregate": args.aggregate, "top_subreddits": args.top_subreddits,
        "drop_self_posts": flag("self_posts"), "drop_nsfw": flag("nsfw"), "drop_deleted": flag("deleted"),
        "drop_reddit_internal": flag("reddit_internal"), "drop_image_hosts": flag("image_hosts"),
    })
    build = from_options(opts)
    stats = build.run(args.dumps, args.out, scheduler=args.scheduler, workers=args.workers,
                      keep_removed=args.keep_removed, progress=not args.no_progress)
    if not args.no_progress:
        print_summary(stats, os.path.abspath(args.out))
        console.print(f"URLs: {stats['urls_distinct']:,} distinct, {stats['urls_kept']:,} with karma >= "
                      f"{stats['min_karma']} ({stats['aggregate']}) → {stats['table']}")
        for p in stats.get("problem_files", []):
            console.print(f"[yellow]{p['path']}[/]: {p['problem']}")
    return 0
