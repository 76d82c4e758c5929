"""``karma build`` on the real 2005 Pushshift dumps, checked against an independent count."""

from __future__ import annotations

import html
import json
import lzma
import shutil
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from corpus_forge.config import ConfigError
from corpus_forge.runner import run_stage
from pipelines.karma import KarmaBuildConfig, KarmaBuildStage, scan_dump

DATA = Path(__file__).parents[2] / "data" / "karma"
DUMPS_2005 = [str(DATA / "RS_v2_2005-06.xz"), str(DATA / "RS_v2_2005-07.xz")]
RS_2024 = str(DATA / "test_submissions.json")


def independent_karma(paths: list[str]) -> dict[str, list[int]]:
    """Plain json + urllib, written separately from the code under test: simple key (host without www.
    and default port, path without trailing slash, query pairs sorted without utm_*, no fragment), and
    WebText's filters spelled out: no self posts, no NSFW, no '[deleted]'/'[removed]' posts, no links
    to image files (the 2005 dumps have no image-host or reddit.com links: checked by hand)."""
    scores: dict[str, list[int]] = defaultdict(list)
    for path in paths:
        for line in lzma.open(path, "rt", encoding="utf-8"):
            post = json.loads(line)
            if post["is_self"] or post["over_18"] or post["selftext"] in ("[deleted]", "[removed]"):
                continue
            parts = urlsplit(html.unescape(post["url"]).strip())
            host = (parts.hostname or "").removeprefix("www.")
            path_ = parts.path.rstrip("/")
            if path_.lower().endswith((".jpg", ".jpeg", ".png", ".gif")):
                continue
            query = "&".join(sorted(q for q in parts.query.split("&") if q and not q.startswith("utm_")))
            port = f":{parts.port}" if parts.port not in (None, 80, 443) else ""
            scores[host + port + path_ + ("?" + query if query else "")].append(post["score"])
    return scores


def build(client, inputs: list[str], out: Path, config: KarmaBuildConfig | None = None,
          keep_removed: bool = False) -> dict:
    """``karma build`` through the one runner, as the command and a recipe run it."""
    return run_stage(KarmaBuildStage(config), [str(i) for i in inputs], str(out), client=client,
                     keep_removed=keep_removed, progress=False)


def read_table(out: Path) -> pa.Table:
    """The table's hash buckets read together, sorted by URL."""
    return pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("karma-part-*.parquet"))]).sort_by("url")


@pytest.fixture(scope="module")
def table_2005(tmp_path_factory: pytest.TempPathFactory, dask_client) -> tuple[dict, object]:
    out = tmp_path_factory.mktemp("karma2005")
    stats = build(dask_client, DUMPS_2005, out, keep_removed=True)
    return stats, read_table(out)


def test_karma_table_from_the_real_2005_dumps_matches_an_independent_count(table_2005) -> None:
    stats, table = table_2005
    ref = independent_karma(DUMPS_2005)
    expected = {k for k, v in ref.items() if max(v) >= 3}
    ours = set(table["url"].to_pylist())
    assert len(expected) == 833
    assert table.num_rows == stats["urls_kept"] == len(expected)
    # the one key the simple reference spells differently: it does not decode %5F ('_', unreserved)
    assert ours - expected == {"online.wsj.com/article/0,,SB112017450218974799,00.html?mod=most_viewed_day"}
    assert expected - ours == {"online.wsj.com/article/0,,SB112017450218974799,00.html?mod=most%5Fviewed%5Fday"}
    # karma is the best single post; posts counts every post of the URL
    by_url = {r["url"]: r for r in table.to_pylist()}
    for key in expected & ours:
        assert by_url[key]["karma"] == max(ref[key]) and by_url[key]["posts"] == len(ref[key])


def test_2005_stats_account_for_every_line(table_2005) -> None:
    """By hand: 103 + 1,079 lines; 5 link posts deleted by their authors (selftext '[deleted]'); 2 links
    to .jpg files; 1,175 posts used for 1,171 distinct URLs (four pages posted twice in two spellings)."""
    stats, _ = table_2005
    assert stats["lines_read"] == stats["documents_in"] == 1182
    assert stats["malformed"] == 0
    assert stats["skipped"] == {"deleted": 5, "media_file": 2}
    assert stats["posts_used"] == stats["documents_out"] == 1175
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["removed"].values())
    assert stats["urls_distinct"] == 1171
    assert stats["errors"] == {} and stats["files"] == 2


def test_reposted_pages_aggregate_best_or_sum() -> None:
    """The four pages posted twice in July 2005 (scores read from the dump by hand)."""
    cfg_best, cfg_sum = KarmaBuildConfig(aggregate="best"), KarmaBuildConfig(aggregate="sum")
    best = {r["url"]: r for r in scan_dump(DUMPS_2005[1], cfg_best).main.to_pylist()}
    total = {r["url"]: r for r in scan_dump(DUMPS_2005[1], cfg_sum).main.to_pylist()}
    for key, scores in {
        "msnbc.msn.com/id/8445696/site/newsweek": (10, 6),
        "sueandpaul.com/gmapPedometer": (3, 8),
        "motoring.co.za/index.php?fArticleId=2621784": (6, 1),
        "db.uwaterloo.ca/~alopez-o/Coffee/caffaq.html": (3, 4),
    }.items():
        assert best[key]["karma"] == max(scores) and best[key]["posts"] == 2
        assert total[key]["karma"] == sum(scores) and total[key]["posts"] == 2


def test_sum_keeps_pages_no_single_post_carried(tmp_path: Path, dask_client) -> None:
    """motoring.co.za's two posts scored 6 and 1: with min_karma 7 only the sum keeps it."""
    best = build(dask_client, DUMPS_2005, tmp_path / "best", KarmaBuildConfig(min_karma=7))
    total = build(dask_client, DUMPS_2005, tmp_path / "sum", KarmaBuildConfig(min_karma=7, aggregate="sum"))
    ref = independent_karma(DUMPS_2005)
    assert best["urls_kept"] == sum(max(v) >= 7 for v in ref.values())
    assert total["urls_kept"] == sum(sum(v) >= 7 for v in ref.values())
    keys = set(read_table(tmp_path / "sum")["url"].to_pylist())
    assert "motoring.co.za/index.php?fArticleId=2621784" in keys


def test_2024_schema_build_and_drop_options(tmp_path: Path, dask_client) -> None:
    """The 2024 sample, counted by hand from its 31 lines: 12 self posts, then 4 NSFW links
    (i.redd.it, redgifs, reddit.com, i.redd.it), 2 reddit-internal links (v.redd.it, reddit.com/r/CASA);
    13 posts left, 4 of them with score >= 3."""
    stats = build(dask_client, [RS_2024], tmp_path / "a")
    assert stats["skipped"] == {"self_post": 12, "nsfw": 4, "reddit_internal": 2}
    assert (stats["posts_used"], stats["urls_kept"]) == (13, 4)
    table = read_table(tmp_path / "a").to_pylist()
    assert [r["url"] for r in table] == ["downingstreetmemo.com",
                                         "online.wsj.com/public/article/0,,SB111948406207267049-_s5eff_5SbJW3B_"
                                         "RdxwYLvU3s6c_20050723,00.html?mod=blogs",
                                         "paulgraham.com/nerds.html", "wired.com/news/culture/0,1284,67982,00.html"
                                         "?tw=wn_tophead_4"]
    assert table[0]["karma"] == 183 and table[0]["subreddits"] == ["reddit.com"]
    assert table[0]["first_seen"].timestamp() == 1119552233
    everything = build(dask_client, [RS_2024], tmp_path / "b", KarmaBuildConfig(
        drop_self_posts=False, drop_nsfw=False, drop_deleted=False, drop_reddit_internal=False,
        drop_image_hosts=False, min_karma=0))
    assert everything["skipped"] == {} and everything["posts_used"] == 31


def test_top_subreddits_by_posts_then_name(tmp_path: Path, dask_client) -> None:
    """One real post re-posted: 3× in 'b', 2× in 'a', 2× in 'c', 1× in 'd' → [b, a, c]."""
    post = json.loads(lzma.open(DUMPS_2005[0]).readline())
    lines = []
    for sub, n in (("d", 1), ("c", 2), ("b", 3), ("a", 2)):
        lines += [json.dumps({**post, "subreddit": sub})] * n
    path = tmp_path / "reposts.ndjson"
    path.write_text("\n".join(lines) + "\n")
    build(dask_client, [str(path)], tmp_path / "t")
    (row,) = read_table(tmp_path / "t").to_pylist()
    assert row["subreddits"] == ["b", "a", "c"] and row["posts"] == 8 and row["karma"] == post["score"]


def test_malformed_lines_and_a_truncated_dump_are_counted_not_fatal(tmp_path: Path, dask_client) -> None:
    june = lzma.open(DUMPS_2005[0]).read().split(b"\n")
    bad = tmp_path / "RS_2005-06.ndjson"
    bad.write_bytes(b"\n".join([*june[:50], b'{"url": "http://example.com/", "score": 5', b"garbage", *june[50:]]))
    july = zstandard.ZstdCompressor().compress(lzma.open(DUMPS_2005[1]).read())
    cut = tmp_path / "RS_2005-07.zst"
    cut.write_bytes(july[: len(july) * 3 // 4])
    stats = build(dask_client, [str(bad), str(cut)], tmp_path / "t")
    assert stats["malformed"] >= 2 and stats["removed"]["malformed_json"] == stats["malformed"]
    assert stats["errors"] == {"truncated_file": 1}
    assert stats["problem_files"][0]["path"] == str(cut)
    assert 103 + 2 < stats["lines_read"] < 103 + 2 + 1079
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["removed"].values())
    assert 0 < stats["urls_kept"] < 833


def test_a_file_that_is_not_a_dump_is_flagged(tmp_path: Path, dask_client) -> None:
    other = tmp_path / "LICENSE"
    other.write_text("GNU GENERAL PUBLIC LICENSE\nVersion 3\n")
    stats = build(dask_client, [str(other), DUMPS_2005[0]], tmp_path / "t")
    assert stats["errors"] == {"not_a_dump": 1} and stats["malformed"] == 2


def test_the_table_is_hash_buckets_one_per_worker_and_a_rerun_leaves_no_stale_parts(tmp_path: Path,
                                                                                     dask_client) -> None:
    """One part per worker of the cluster (2), every URL in exactly one, each sorted by URL with the options in
    its metadata; the URL filter's loader reads them together. A rerun with one dump replaces every part."""
    from filters.karma_table import load_karma_table

    shutil.copy(DUMPS_2005[0], tmp_path / "a.xz")
    shutil.copy(DUMPS_2005[1], tmp_path / "b.xz")
    out = tmp_path / "t"
    stats = build(dask_client, [str(tmp_path / "*.xz")], out)
    assert (out / "_SUCCESS").exists() and json.loads((out / "stats.json").read_text())["urls_kept"] == 833
    assert stats["writes_documents"] is False and stats["table"] == str(out / "karma-part-*.parquet")
    parts = [pq.read_table(p) for p in sorted(out.glob("karma-part-*.parquet"))]
    assert len(parts) == len(dask_client.scheduler_info()["workers"]) == 2
    urls = [u for t in parts for u in t["url"].to_pylist()]
    assert len(urls) == len(set(urls)) == 833
    assert all(t["url"].to_pylist() == sorted(t["url"].to_pylist()) for t in parts)
    assert all(json.loads(t.schema.metadata[b"corpus_forge.karma"])["min_karma"] == 3 for t in parts)
    table = load_karma_table(str(out))
    assert len(table) == 833 and table.min_karma == 3
    whole = read_table(out)
    assert all(table.get(u) == k for u, k in zip(whole["url"].to_pylist(), whole["karma"].to_pylist(), strict=True))
    june = build(dask_client, [str(tmp_path / "a.xz")], out)
    assert len(load_karma_table(str(out))) == june["urls_kept"] == read_table(out).num_rows < 833


def test_url_buckets_are_stable_and_spread() -> None:
    from pipelines.karma.aggregate import url_buckets

    urls = [f"example{i % 97}.com/p/{i}" for i in range(5000)] + [""]
    b = url_buckets(pa.array(urls), 4)
    assert set(b.tolist()) == {0, 1, 2, 3} and min(np.bincount(b)) > 1000
    again = url_buckets(pa.chunked_array([pa.array(urls[3000:]), pa.array(urls[:3000])]), 4)
    assert np.array_equal(np.concatenate([again[len(urls) - 3000 :], again[: len(urls) - 3000]]), b)
    assert np.array_equal(url_buckets(pa.array(urls).slice(10), 4), b[10:])
    # a URL's bucket depends on its bytes only, not on its neighbours' (short URLs too)
    mixed = ["", "a", "ab.c", "x" * 7, "y" * 8, "z" * 9, "example.com/" + "q" * 20, *urls[:200:7]]
    alone = [url_buckets(pa.array([u]), 5)[0] for u in mixed]
    assert url_buckets(pa.array(mixed), 5).tolist() == alone
    assert url_buckets(pa.array(mixed[::-1]), 5).tolist() == alone[::-1]


def test_cli_builds_a_table_on_a_running_scheduler(tmp_path: Path, dask_client) -> None:
    from corpus_forge.cli import main

    out = tmp_path / "cli"
    rc = main(["karma", "build", *DUMPS_2005, "--out", str(out), "--min-karma", "10",
               "--aggregate", "sum", "--scheduler", dask_client.scheduler.address, "--no-progress",
               "--keep-removed"])
    assert rc == 0
    stats = json.loads((out / "stats.json").read_text())
    ref = independent_karma(DUMPS_2005)
    assert stats["urls_kept"] == sum(sum(v) >= 10 for v in ref.values())
    assert stats["aggregate"] == "sum" and stats["min_karma"] == 10
    below = pa.concat_tables([pq.read_table(p) for p in sorted((out / "removed").glob("part-*.parquet"))])
    assert set(below["reason"].to_pylist()) == {"low_karma"}
    assert below.num_rows + stats["urls_kept"] == stats["urls_distinct"]


def test_cli_rejects_bad_options(tmp_path: Path, capsys) -> None:
    from corpus_forge.cli import main

    with pytest.raises(SystemExit):
        main(["karma", "build", DUMPS_2005[0], "--out", str(tmp_path), "--aggregate", "median"])
    cfg = tmp_path / "karma.yaml"
    cfg.write_text("min_karmaa: 3\n")
    assert main(["karma", "build", DUMPS_2005[0], "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "min_karmaa: unknown key" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="aggregate"):
        KarmaBuildStage.from_options({"aggregate": "mean"})


def test_odd_lines_among_good_ones(tmp_path: Path) -> None:
    """Two JSON values on one line and a non-object are malformed; an odd-typed field is decoded leniently;
    the good lines around them count as if alone."""
    good = [b'{"url": "http://a.example/%d", "score": %d, "subreddit": "s"}' % (i, i) for i in range(6)]
    odd = [b'{"url": "http://b.example/x", "score": "7", "is_self": "false"}',
           b'{"url": "http://c.example/1", "score": 5}{"url": "http://c.example/2", "score": 5}', b"[1, 2]"]
    (tmp_path / "clean.ndjson").write_bytes(b"\n".join(good) + b"\n")
    (tmp_path / "mixed.ndjson").write_bytes(b"\n".join(good + odd) + b"\n")
    clean = scan_dump(str(tmp_path / "clean.ndjson"))
    mixed = scan_dump(str(tmp_path / "mixed.ndjson"))
    assert clean.counters.documents_out == 6 and clean.main.num_rows == 6
    assert mixed.counters.documents_in == 9 and mixed.counters.documents_out == 7
    assert mixed.counters.removed == {"malformed_json": 2}
    assert "b.example/x" in mixed.main["url"].to_pylist()
