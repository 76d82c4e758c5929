"""Per-URL aggregation of Reddit posts for ``karma build``: map-side partials, their merge, the final table.

A :class:`Partial` holds some posts either raw (``posts``: url, score, created, subreddit) or aggregated
per URL (``main``: url, karma, posts, first_seen and the URL's smallest and largest subreddit name and
number of posts with a subreddit), plus ``subs`` (url, subreddit, n) for the URLs of ``main`` posted to
more than one subreddit. Most URLs are posted to one subreddit, so ``subs`` is small and the top
subreddits of most URLs come straight from ``main`` (``sub_min == sub_max``) without a second group-by
or a sort. Aggregation is associative: partials merge in any tree, raw posts are aggregated once.

Group-bys run single-threaded in Arrow (Acero): one task per Dask worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus_forge.stats import Counters
from filters.karma_table import META_KEY, TABLE_SCHEMA, url_buckets

__all__ = ["MAIN_SCHEMA", "POSTS_SCHEMA", "SUBS_SCHEMA", "TABLE_SCHEMA", "Partial", "aggregate_posts",
           "combine", "karma_tables", "merge_partials", "split_partial", "url_buckets"]

POSTS_SCHEMA = pa.schema([("url", pa.string()), ("score", pa.int64()), ("created", pa.int64()),
                          ("subreddit", pa.string())])
MAIN_SCHEMA = pa.schema([("url", pa.string()), ("karma", pa.int64()), ("posts", pa.int64()),
                         ("first_seen", pa.int64()), ("sub_min", pa.string()), ("sub_max", pa.string()),
                         ("sub_n", pa.int64())])
SUBS_SCHEMA = pa.schema([("url", pa.string()), ("subreddit", pa.string()), ("n", pa.int64())])


@dataclass
class Partial:
    """Posts of some dump lines: raw (``posts``) and/or aggregated (``main``, ``subs``), and counters."""

    main: pa.Table = field(default_factory=MAIN_SCHEMA.empty_table)
    subs: pa.Table = field(default_factory=SUBS_SCHEMA.empty_table)
    counters: Counters = field(default_factory=Counters)
    posts: pa.Table = field(default_factory=POSTS_SCHEMA.empty_table)

    def aggregated(self, how: str) -> Partial:
        """This partial with its raw posts folded into ``main``/``subs``."""
        if not self.posts.num_rows:
            return self
        m, s = aggregate_posts(self.posts, how)
        if self.main.num_rows:
            m, s = combine([(self.main, self.subs), (m, s)], how)
        return Partial(m, s, self.counters)


def _agg(how: str) -> str:
    return "max" if how == "best" else "sum"


def _multi(main: pa.Table) -> pa.Array:
    """Rows of ``main`` whose posts name more than one subreddit."""
    return pc.fill_null(pc.not_equal(main["sub_min"], main["sub_max"]), False)


def _ranked(table: pa.Table, columns: list[str]) -> tuple[pa.Table, pa.Array]:
    """``table`` with ``<column>_rank`` int32 columns: each string's index in the sorted dictionary of all
    their values (returned too). Acero's min/max of these ints is the strings' min/max at a third of the
    cost of min/max on the strings themselves."""
    d = pc.unique(pa.chunked_array([c for name in columns for c in table[name].chunks], pa.string())).drop_null()
    d = d.take(pc.sort_indices(d))
    for name in columns:
        table = table.append_column(f"{name}_rank", pc.index_in(table[name], value_set=d))
    return table, d


def _group_main(t: pa.Table, d: pa.Array, how: str, cols: tuple[str, str, str, str, str, str]) -> pa.Table:
    """Group ``t`` by url into a MAIN_SCHEMA table; ``cols`` name t's karma, posts, first_seen, min- and
    max-subreddit rank and subreddit-count columns (ranks into ``d``, see :func:`_ranked`)."""
    karma, posts, first, lo, hi, n = cols
    how_posts, how_n = ("count", "count") if karma == "score" else ("sum", "sum")
    g = t.group_by("url", use_threads=False).aggregate(
        [(karma, _agg(how)), (posts, how_posts), (first, "min"), (lo, "min"), (hi, "max"), (n, how_n)])
    return pa.table({"url": g["url"], "karma": g[f"{karma}_{_agg(how)}"], "posts": g[f"{posts}_{how_posts}"],
                     "first_seen": g[f"{first}_min"], "sub_min": d.take(g[f"{lo}_min"]),
                     "sub_max": d.take(g[f"{hi}_max"]), "sub_n": g[f"{n}_{how_n}"]}).cast(MAIN_SCHEMA)


def aggregate_posts(posts: pa.Table, how: str) -> tuple[pa.Table, pa.Table]:
    """Raw posts → (main, subs)."""
    t, d = _ranked(posts, ["subreddit"])
    main = _group_main(t, d, how, ("score", "score", "created", "subreddit_rank", "subreddit_rank", "subreddit"))
    multi = main.filter(_multi(main))
    if not multi.num_rows:
        return main, SUBS_SCHEMA.empty_table()
    p = posts.filter(pc.is_in(posts["url"], value_set=multi["url"]))
    s = p.group_by(["url", "subreddit"], use_threads=False).aggregate([("score", "count")])
    s = s.filter(pc.is_valid(s["subreddit"])).rename_columns(SUBS_SCHEMA.names).cast(SUBS_SCHEMA)
    return main, s


def combine(parts: list[tuple[pa.Table, pa.Table]], how: str) -> tuple[pa.Table, pa.Table]:
    """Merge aggregated (main, subs) pairs."""
    if len(parts) == 1:
        return parts[0]
    t, d = _ranked(pa.concat_tables([m for m, _ in parts]), ["sub_min", "sub_max"])
    main = _group_main(t, d, how, ("karma", "posts", "first_seen", "sub_min_rank", "sub_max_rank", "sub_n"))
    multi = main.filter(_multi(main))["url"]
    if not len(multi):
        return main, SUBS_SCHEMA.empty_table()
    # per-subreddit counts of the now multi-subreddit URLs: explicit rows where a part had several
    # subreddits for the URL, else the part's one subreddit with its count
    rows = [s for _, s in parts if s.num_rows]
    for m, _ in parts:
        one = m.filter(pc.and_(pc.equal(m["sub_min"], m["sub_max"]), pc.is_in(m["url"], value_set=multi)))
        if one.num_rows:
            rows.append(pa.table({"url": one["url"], "subreddit": one["sub_min"], "n": one["sub_n"]},
                                 schema=SUBS_SCHEMA))
    s = pa.concat_tables(rows).group_by(["url", "subreddit"], use_threads=False).aggregate([("n", "sum")])
    return main, s.rename_columns(SUBS_SCHEMA.names).cast(SUBS_SCHEMA)


def merge_partials(parts: list[Partial], how: str = "best") -> Partial:
    """Reduce step: one aggregated partial of several (raw posts aggregated once, together)."""
    counters = Counters()
    for p in parts:
        counters = counters.merge(p.counters)
    ex = counters.extra.get("examples", {})
    counters.extra["examples"] = {k: v[:3] for k, v in ex.items()}
    pairs = [(p.main, p.subs) for p in parts if p.main.num_rows]
    raw = [p.posts for p in parts if p.posts.num_rows]
    if raw:
        pairs.append(aggregate_posts(pa.concat_tables(raw), how))
    main, subs = combine(pairs, how) if pairs else (MAIN_SCHEMA.empty_table(), SUBS_SCHEMA.empty_table())
    return Partial(main, subs, counters)


def split_partial(part: Partial, n: int) -> list[Partial]:
    """``part`` as ``n`` hash buckets of its URLs; the counters go with bucket 0 (others get empty ones)."""
    if n <= 1:
        return [part]

    def cut(t: pa.Table) -> list[pa.Table]:
        if not t.num_rows:
            return [t] * n
        b = url_buckets(t["url"], n)
        return [t.filter(pa.array(b == i)) for i in range(n)]

    mains, subs, posts = cut(part.main), cut(part.subs), cut(part.posts)
    return [Partial(mains[i], subs[i], part.counters if i == 0 else Counters(), posts[i]) for i in range(n)]


def _top_subreddits(subs: pa.Table, k: int) -> pa.Table:
    """url → list of its ``k`` most-posted subreddits (ties by name)."""
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


def _subreddit_lists(kept: pa.Table, subs: pa.Table, k: int) -> pa.Array:
    """The ``subreddits`` column of ``kept``: its top ``k`` subreddits by posts, null when none."""
    n = kept.num_rows
    if k == 0 or n == 0:
        return pa.nulls(n, pa.list_(pa.string()))
    # one subreddit (or none): the list [sub_min], or null
    one = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), kept["sub_min"].combine_chunks(),
                                   mask=pc.is_null(kept["sub_min"]).combine_chunks())
    multi = _multi(kept)
    if not pc.any(multi).as_py():
        return one
    mine = subs.filter(pc.is_in(subs["url"], value_set=kept.filter(multi)["url"]))
    top = _top_subreddits(mine, k)
    many = top["subreddits"].combine_chunks().take(pc.index_in(kept["url"], value_set=top["url"]))
    return pc.if_else(multi, many, one)


def karma_tables(partial: Partial, min_karma: int, top_subreddits: int, meta: dict) -> tuple[pa.Table, pa.Table]:
    """(kept, below): URLs with ``karma >= min_karma`` in the table schema, sorted by URL, with ``meta``
    as the schema's metadata; and the rest (url, karma, posts, first_seen), not sorted."""
    main = partial.main
    keep = pc.greater_equal(main["karma"], min_karma)
    kept, below = main.filter(keep), main.filter(pc.invert(keep))
    table = kept.append_column("subreddits", _subreddit_lists(kept, partial.subs, top_subreddits))
    table = table.set_column(table.schema.get_field_index("first_seen"), "first_seen",
                             table["first_seen"].cast(pa.timestamp("s", tz="UTC")))
    table = table.select(TABLE_SCHEMA.names).cast(TABLE_SCHEMA).sort_by("url")
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    return table, below.select(["url", "karma", "posts", "first_seen"])
