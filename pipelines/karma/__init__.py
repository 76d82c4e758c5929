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
    TABLE_DIR/karma-part-BBBBB.DIGEST.{hash,karma}.npy   the part's lookup index: sorted uint64 URL hashes
                                         and their karma, which the filter memory-maps (16 B a URL)
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

import json
import os
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa

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
from filters.karma_table import INDEX_GLOB, META_KEY, PART_GLOB, part_name, sorted_index, write_index
from pipelines.karma import report
from pipelines.karma.aggregate import Partial, karma_tables, merge_partials
from pipelines.karma.config import IMAGE_HOSTS, MEDIA_EXTENSIONS, REDDIT_DOMAINS, KarmaBuildConfig, excluded_domains
from pipelines.karma.scan import SKIP_ORDER, DumpScan, file_health, scan_dump, scan_dump_split

__all__ = ["IMAGE_HOSTS", "MEDIA_EXTENSIONS", "REDDIT_DOMAINS", "SKIP_ORDER", "DumpScan", "KarmaBuildConfig",
           "KarmaBuildStage", "excluded_domains", "file_health", "scan_dump", "scan_dump_split", "table_stats",
           "write_bucket"]

# Partial tables come back from Dask workers in buffers that need not be 64-byte aligned; let Acero
# (Arrow's group-by engine) copy those instead of printing a warning for each. Read once per process.
os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")


def write_bucket(partial: Partial, out_dir: str, config: KarmaBuildConfig, part: int,
                 keep_removed: bool = False, buckets: int = 1) -> tuple[Counters, int, int]:
    """Write one hash bucket of the table, ``karma-part-PPPPP.parquet``: the bucket's URLs with ``karma >=
    min_karma``, sorted by URL, with the options in the schema metadata; with ``keep_removed`` also the rest as
    ``removed/part-PPPPP.parquet`` (reason ``low_karma``); the part's lookup index beside it
    (:func:`filters.karma_table.write_index`; ``part`` of ``buckets``). Returns the counters, distinct URLs and
    URLs kept. Runs on a worker."""
    partial = partial.aggregated(config.aggregate)
    meta = {"min_karma": config.min_karma, "aggregate": config.aggregate, "config": config.model_dump(mode="json")}
    table, below = karma_tables(partial, config.min_karma, config.top_subreddits, meta)
    path = os.path.join(out_dir, part_name(part))
    # the lookup index first, then the part that names it (a part never names a missing index)
    meta["index"] = write_index(path, *sorted_index(table["url"], table["karma"].to_numpy()), part, buckets)
    write_parquet_atomic(table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()}), path)
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
    base = root.rstrip("/")
    for pattern in (PART_GLOB, INDEX_GLOB, "removed/part-*.parquet"):
        for p in fs.glob(f"{base}/{pattern}"):
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
            writes.append(client.submit(write_bucket, level[0], run.out_dir, cfg, b, run.keep_removed, n, pure=False))
        results = client.gather(writes)
        return table_stats(counters, sum(r[1] for r in results), sum(r[2] for r in results), cfg,
                           os.path.join(run.out_dir, PART_GLOB))

    print_report = staticmethod(report.print_summary)
    report_section = staticmethod(report.section)
