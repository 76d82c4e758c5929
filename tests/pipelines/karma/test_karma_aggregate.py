"""Per-URL aggregation (``pipelines/karma/aggregate.py``) against a plain-Python recount.

Posts re-post the real link URLs of the 2005 dumps into the real subreddit names of the 2024 sample, with
seeded scores and times, so that many URLs get several posts across files and several subreddits (the
real 2005 dumps have one subreddit, so they alone cannot exercise the multi-subreddit path).
"""

from __future__ import annotations

import html
import json
import lzma
import random
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus_forge.runner import run_stage
from filters.support.url_normalize import normalize_url
from pipelines.karma import KarmaBuildConfig, KarmaBuildStage, scan_dump, write_bucket
from pipelines.karma.aggregate import merge_partials, split_partial

DATA = Path(__file__).parents[2] / "data" / "karma"


def _posts(seed: int) -> list[list[dict]]:
    urls = sorted({json.loads(ln)["url"] for ln in lzma.open(DATA / "RS_v2_2005-07.xz")})[:150]
    subs = sorted({json.loads(ln)["subreddit"] for ln in open(DATA / "test_submissions.json", encoding="utf-8")})
    rng = random.Random(seed)
    files = []
    for _ in range(3):
        rows = []
        for _ in range(700):
            row = {"url": rng.choice(urls), "score": rng.choice([0, 1, 2, 3, 5, 9, 30]),
                   "created_utc": rng.randint(1_100_000_000, 1_200_000_000)}
            if rng.random() < 0.9:  # some posts have no subreddit
                row["subreddit"] = rng.choice(subs[:4]) if rng.random() < 0.8 else rng.choice(subs)
            rows.append(row)
        files.append(rows)
    return files


def _recount(files: list[list[dict]], how: str, k: int, min_karma: int = 3) -> dict[str, dict]:
    posts: dict[str, list[dict]] = defaultdict(list)
    for rows in files:
        for r in rows:
            posts[normalize_url(html.unescape(r["url"]))].append(r)  # Reddit escapes & as &amp;
    out = {}
    for key, rs in posts.items():
        scores = [r["score"] for r in rs]
        karma = max(scores) if how == "best" else sum(scores)
        if karma < min_karma:
            continue
        n = Counter(r["subreddit"] for r in rs if "subreddit" in r)
        top = [s for s, _ in sorted(n.items(), key=lambda kv: (-kv[1], kv[0]))[:k]] or None
        out[key] = {"karma": karma, "posts": len(rs), "first_seen": min(r["created_utc"] for r in rs),
                    "subreddits": top if k else None}
    return out


def _write(tmp: Path, files: list[list[dict]]) -> list[str]:
    paths = []
    for i, rows in enumerate(files):
        p = tmp / f"RS_{i}.ndjson"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(str(p))
    return paths


def _build(client, inputs: list[str], out: Path, config: KarmaBuildConfig | None = None) -> dict:
    return run_stage(KarmaBuildStage(config), inputs, str(out), client=client, progress=False)


def _table(path: Path) -> dict[str, dict]:
    rows = pa.concat_tables([pq.read_table(p) for p in sorted(path.glob("karma-part-*.parquet"))]).to_pylist()
    return {r.pop("url"): {**r, "first_seen": int(r["first_seen"].timestamp())} for r in rows}


@pytest.mark.parametrize("how, k, flush_rows", [("best", 3, 100_000), ("sum", 3, 40), ("best", 1, 40),
                                                ("sum", 0, 100_000)])
def test_table_equals_a_plain_recount(tmp_path: Path, how: str, k: int, flush_rows: int, dask_client) -> None:
    """Raw posts aggregated in the reduce (default), or folded in the map every few blocks (small
    ``flush_rows``): karma, posts, first_seen and the top-k subreddits (ties by name) as recounted."""
    files = _posts(7)
    cfg = KarmaBuildConfig(aggregate=how, top_subreddits=k, flush_rows=flush_rows, chunk_bytes=4096)
    stats = _build(dask_client, _write(tmp_path, files), tmp_path / "t", cfg)
    want = _recount(files, how, k)
    got = _table(tmp_path / "t")
    assert got == want
    multi = sum(1 for v in want.values() if v["subreddits"] and len(v["subreddits"]) > 1)
    assert stats["urls_kept"] == len(want) and (k < 2 or multi > 50)


def test_any_split_and_merge_tree_gives_the_same_table(tmp_path: Path) -> None:
    """Hash buckets of raw and folded partials, merged in different trees (as the Dask run does), write
    the same rows as one local merge."""
    files = _posts(11)
    paths = _write(tmp_path, files)
    cfg = KarmaBuildConfig(flush_rows=40, chunk_bytes=4096)
    want = _recount(files, "best", 3)
    for raw_tail in (True, False):
        parts = [split_partial(scan_dump(p, cfg, raw_tail=raw_tail), 3) for p in paths]
        out = tmp_path / f"buckets-{raw_tail}"
        for b in range(3):
            mine = [p[b] for p in parts]
            tree = merge_partials([merge_partials(mine[:2]), mine[2]]) if b % 2 else merge_partials(mine)
            write_bucket(tree, str(out), cfg, part=b)
        assert _table(out) == want


def test_distinct_urls_stay_raw_until_the_reduce_and_repeated_ones_fold(tmp_path: Path, dask_client) -> None:
    """Folding in the map only pays when URLs repeat: the posts of the real July 2005 dump (nearly every
    URL distinct) stay raw through every check and give the same table as the default settings; the
    re-posted URLs fold."""
    cfg = KarmaBuildConfig(flush_rows=40, chunk_bytes=4096)
    july = str(DATA / "RS_v2_2005-07.xz")
    distinct = scan_dump(july, cfg, raw_tail=True)
    assert distinct.main.num_rows == 0 and distinct.posts.num_rows == distinct.counters.documents_out
    assert _table_of(_build(dask_client, [july], tmp_path / "small", cfg), tmp_path / "small") == _table_of(
        _build(dask_client, [july], tmp_path / "default"), tmp_path / "default")
    reposted = _write(tmp_path, _posts(3))[0]
    folded = scan_dump(reposted, cfg, raw_tail=True)
    assert folded.main.num_rows > 0 and folded.posts.num_rows < 320


def _table_of(stats: dict, out: Path) -> dict[str, dict]:
    assert stats["urls_kept"] > 0
    return _table(out)
