"""The karma, domain-blocklist and Wikipedia URL filters: as document filters and as extract pushdown."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from corpus_forge.config import ConfigError
from corpus_forge.runner import run_stage
from filters.base import build_filter
from filters.karma_table import load_karma_table
from filters.url_filters import KarmaFilter
from pipelines.karma import KarmaBuildConfig, KarmaBuildStage

DATA = Path(__file__).parent.parent / "data" / "karma"
DUMPS_2005 = [str(DATA / "RS_v2_2005-06.xz"), str(DATA / "RS_v2_2005-07.xz")]
PAGES = DATA / "pages"

# URLs of real July/June 2005 posts as a crawler might spell them, with the karma read from the dumps by
# hand (best post): they pass a karma >= 3 filter.
IN_TABLE = {
    "https://paulgraham.com/nerds.html/": 26,  # posted as http://www.paulgraham.com/nerds.html
    "http://WWW.PAULGRAHAM.COM:80/": 18,  # posted as http://www.paulgraham.com
    "https://www.msnbc.msn.com/id/8445696/site/newsweek/#top": 10,  # two posts, 10 and 6
    "http://www.nytimes.com/2005/07/24/fashion/sundaystyles/24LOVE.html?pagewanted=print&partner=rssuserland"
    "&emc=rss&ex=1279857600&en=74b58906f735e683&ei=5090&utm_source=reddit": 10,  # pairs reordered, utm added
    "http://motoring.co.za/index.php?fArticleId=2621784": 6,  # this spelling's post had 1, www. one had 6
}
# Real 2005 posts with karma 1 (not in a min_karma=3 table), and the pages' own URLs (never on 2005 Reddit).
LOW = {
    "http://www.nytimes.com/2005/07/15/science/15planet.html": 1,
    "http://en.wikipedia.org/wiki/List_of_films_ordered_by_uses_of_the_word_fuck": 1,
}
PAGE_URLS = list(json.loads((PAGES / "urls.json").read_text()).values())


def build_table(client, out: Path, config: KarmaBuildConfig | None = None) -> None:
    run_stage(KarmaBuildStage(config), DUMPS_2005, str(out), client=client, progress=False)


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory: pytest.TempPathFactory, dask_client) -> str:
    out = tmp_path_factory.mktemp("karma")
    build_table(dask_client, out)
    return str(out)


def doc_table(urls: list[str | None]) -> pa.Table:
    n = len(urls)
    return pa.table({"id": [str(i) for i in range(n)], "text": ["some text"] * n, "url": urls,
                     "source": ["test"] * n})


# ---- karma as a document filter ----------------------------------------------------------------
def test_karma_filter_keeps_table_urls_in_any_spelling(table_dir: str) -> None:
    urls = [*IN_TABLE, *LOW, *PAGE_URLS, None]
    res = build_filter({"type": "karma", "table": table_dir}).filter_table(doc_table(urls))
    assert res.keep.tolist() == [True] * len(IN_TABLE) + [False] * (len(LOW) + len(PAGE_URLS) + 1)
    assert res.reasons == [None] * len(IN_TABLE) + ["karma:low_karma"] * (len(LOW) + len(PAGE_URLS) + 1)
    assert res.columns["karma"].to_pylist() == [*IN_TABLE.values()] + [None] * (len(LOW) + len(PAGE_URLS) + 1)
    kept, dropped = int(res.keep.sum()), res.reasons.count("karma:low_karma")
    assert kept + dropped == len(urls)  # every document accounted for


def test_karma_filter_row_and_batch_paths_agree(table_dir: str) -> None:
    flt = KarmaFilter(table=table_dir, min_karma=10)
    urls = [*IN_TABLE, *LOW, *PAGE_URLS]
    res = flt.filter_table(doc_table(urls))
    one_by_one = [flt.url_decision(u) for u in urls]
    assert res.reasons == [flt.drop_reason(r) if r else None for r, _ in one_by_one]  # karma:low_karma
    assert res.columns["karma"].to_pylist() == [c["karma"] for _, c in one_by_one]
    assert res.keep.sum() == sum(v >= 10 for v in IN_TABLE.values()) == 4


def test_annotate_only_adds_karma_and_drops_nothing(table_dir: str) -> None:
    """For a crawl the dumps do not cover: the column says what is known, nothing is fabricated."""
    flt = build_filter({"type": "karma", "table": table_dir, "annotate_only": True})
    res = flt.filter_table(doc_table([*IN_TABLE, *PAGE_URLS]))
    assert res.keep.all() and res.reasons == [None] * (len(IN_TABLE) + len(PAGE_URLS))
    assert res.columns["karma"].to_pylist() == [*IN_TABLE.values()] + [None] * len(PAGE_URLS)
    assert flt.url_decision(PAGE_URLS[0]) == (None, {"karma": None})


def test_a_threshold_below_the_tables_is_refused(table_dir: str) -> None:
    with pytest.raises(ConfigError, match="below the table's min_karma=3"):
        build_filter({"type": "karma", "table": table_dir, "min_karma": 1})
    build_filter({"type": "karma", "table": table_dir, "min_karma": 1, "annotate_only": True})


@pytest.mark.parametrize("spec, message", [
    ({"type": "karma"}, "table: Field required"),
    ({"type": "karma", "table": "/nonexistent/table"}, "not found"),
    ({"type": "karma", "table": "TABLE", "min_karm": 3}, "min_karm: unknown key"),
    ({"type": "domain_blocklist"}, "give 'files'"),
    ({"type": "domain_blocklist", "files": ["/nonexistent.txt"]}, "not found"),
    ({"type": "wikipedia", "mirror": ["x.org"]}, "mirror: unknown key"),
])
def test_bad_specs_name_the_problem(spec: dict, message: str, table_dir: str) -> None:
    spec = {k: (table_dir if v == "TABLE" else v) for k, v in spec.items()}
    with pytest.raises(ConfigError, match=message):
        build_filter(spec)


def test_table_is_loaded_once_per_process_and_reloaded_when_rebuilt(table_dir: str, tmp_path: Path,
                                                                    dask_client) -> None:
    shutil.copytree(table_dir, tmp_path / "t")
    first = load_karma_table(str(tmp_path / "t"))
    assert load_karma_table(str(tmp_path / "t")) is first
    assert len(first) == 833
    build_table(dask_client, tmp_path / "t10", KarmaBuildConfig(min_karma=10))
    for part in sorted((tmp_path / "t10").glob("karma-part-*.parquet")):  # the same bucket names, new content
        shutil.copy(part, tmp_path / "t" / part.name)
        os.utime(tmp_path / "t" / part.name, ns=(1, 1))  # a different mtime, whatever the clock says
    again = load_karma_table(str(tmp_path / "t"))
    assert again is not first and len(again) < 833


def test_filters_pickle_without_their_tables(table_dir: str) -> None:
    flt = build_filter({"type": "karma", "table": table_dir})
    flt.url_decision("http://example.com")  # loads the table into this process's cache
    blob = pickle.dumps(flt)
    assert len(blob) < 2000
    assert pickle.loads(blob).url_decision("https://paulgraham.com/nerds.html") == (None, {"karma": 26})


# ---- domains ----------------------------------------------------------------------------------
def test_domain_blocklist_files_and_subdomains(tmp_path: Path) -> None:
    lst = tmp_path / "blocklist.txt"
    lst.write_text("# spam domains\nnytimes.com\n0.0.0.0 tracker.example  # hosts-file line\n"
                   "https://www.msnbc.msn.com/some/page\n\n")
    flt = build_filter({"type": "domain_blocklist", "files": [str(lst)], "domains": ["WIRED.com"]})
    urls = ["http://www.nytimes.com/2005/07/15/science/15planet.html", "http://travel.nytimes.com/x",
            "http://notnytimes.com/", "http://tracker.example/p", "http://msnbc.msn.com/id/1",
            "http://www.wired.com/news/culture/0,1284,67982,00.html", "http://paulgraham.com/", None]
    res = flt.filter_table(doc_table(urls))
    assert res.reasons == ["domain_blocklist:blocked_domain"] * 2 + [None] + ["domain_blocklist:blocked_domain"] * 3 \
        + [None, None]
    assert [flt.drop_reason(r) if (r := flt.url_decision(u)[0]) else None for u in urls] == res.reasons


def test_wikipedia_filter_takes_every_language_and_mirror_only() -> None:
    flt = build_filter({"type": "wikipedia", "mirrors": ["wikiwand.com"]})
    urls = ["http://en.wikipedia.org/wiki/List_of_films_ordered_by_uses_of_the_word_fuck",  # real 2005 post
            "https://de.m.wikipedia.org/wiki/Berlin", "https://wikipedia.org/", "https://www.wikiwand.com/en/X",
            "https://en.wiktionary.org/wiki/x", "http://wikipedia.org.example.com/",
            "http://web.archive.org/web/20120122050356/http://en.wikipedia.org:80/wiki/French_Lick,_Indiana"]
    res = flt.filter_table(doc_table(urls))
    assert res.reasons == ["wikipedia:wikipedia"] * 4 + [None] * 3
    assert build_filter({"type": "wikipedia"}).url_decision("https://www.wikiwand.com/en/X") == (None, {})


def test_each_filter_has_its_own_reason(table_dir: str, tmp_path: Path) -> None:
    lst = tmp_path / "b.txt"
    lst.write_text("example.com\n")
    reasons = {build_filter(s).url_decision(u)[0] for s, u in [
        ({"type": "karma", "table": table_dir}, "http://example.com/"),
        ({"type": "domain_blocklist", "files": [str(lst)]}, "http://example.com/"),
        ({"type": "wikipedia"}, "http://en.wikipedia.org/"),
    ]}
    assert reasons == {"low_karma", "blocked_domain", "wikipedia"}


# ---- pushdown in the extract stage -------------------------------------------------------------
def write_warc(path: Path, uris: list[str]) -> None:
    """A WARC with one 200 text/html response per URI; payloads are the real pages in tests/data/karma/
    pages (article-extraction-benchmark), used in turn. The 2005 pages themselves are not archived here:
    pushdown looks only at the URI, and extraction must succeed for the records that pass."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = [gzip.decompress(p.read_bytes()) for p in sorted(PAGES.glob("*.html.gz"))]
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for i, uri in enumerate(uris):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            rec = w.create_warc_record(uri, "response", payload=io.BytesIO(pages[i % len(pages)]),
                                       http_headers=http)
            w.write_record(rec)


def run_extract(warc: Path, url_filters: list[dict], monkeypatch: pytest.MonkeyPatch):
    from corpus_forge.stage import Partition
    from pipelines.extract import ExtractConfig, ExtractStage

    calls: list[str | None] = []
    original = ExtractStage._extract_text

    def counting(self, html, url):  # count the pages that reached trafilatura
        calls.append(url)
        return original(self, html, url)

    monkeypatch.setattr(ExtractStage, "_extract_text", counting)
    stage = ExtractStage(ExtractConfig(url_filters=url_filters, time_limit=0))
    return stage.process(Partition(key="k", path=str(warc))), calls


def test_pushdown_keeps_exactly_the_table_urls_and_skips_extraction_for_the_rest(
        table_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uris = [*IN_TABLE, *LOW, *PAGE_URLS]
    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, uris)
    res, calls = run_extract(warc, [{"type": "karma", "table": table_dir}], monkeypatch)
    c = res.counters
    n_drop = len(LOW) + len(PAGE_URLS)
    assert res.kept["url"].to_pylist() == list(IN_TABLE)
    assert res.kept["karma"].to_pylist() == list(IN_TABLE.values())
    assert c.removed == {"low_karma": n_drop}
    assert c.extra["pushdown_skipped"] == n_drop
    assert sorted(calls) == sorted(IN_TABLE)  # trafilatura ran only for the records that passed
    assert c.documents_in == len(uris) == res.kept.num_rows + sum(c.removed.values())


def test_pushdown_counts_each_filter_under_its_reason(table_dir: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lst = tmp_path / "block.txt"
    lst.write_text("sciencealert.com\n")
    uris = [*IN_TABLE, *LOW, *PAGE_URLS]
    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, uris)
    res, calls = run_extract(warc, [{"type": "wikipedia"}, {"type": "domain_blocklist", "files": [str(lst)]},
                                    {"type": "karma", "table": table_dir}], monkeypatch)
    # by hand: 1 wikipedia.org URL; 2 of the pages are on sciencealert.com; the other 4 lack karma
    assert res.counters.removed == {"wikipedia": 1, "blocked_domain": 2, "low_karma": 4}
    assert res.counters.extra["pushdown_skipped"] == 7
    assert len(calls) == res.kept.num_rows == len(IN_TABLE)
    assert res.removed is not None and sorted(set(res.removed["reason"].to_pylist())) == [
        "blocked_domain", "low_karma", "wikipedia"]


def test_pushdown_annotate_only_extracts_everything(table_dir: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, [*IN_TABLE, *PAGE_URLS])
    res, calls = run_extract(warc, [{"type": "karma", "table": table_dir, "annotate_only": True}], monkeypatch)
    assert res.counters.removed == {} and len(calls) == res.kept.num_rows == len(IN_TABLE) + len(PAGE_URLS)
    karma = dict(zip(res.kept["url"].to_pylist(), res.kept["karma"].to_pylist(), strict=True))
    assert karma == {**IN_TABLE, **dict.fromkeys(PAGE_URLS)}
    assert np.all(res.kept["text"].to_numpy(zero_copy_only=False) != "")


def test_pushdown_karma_column_is_typed_even_when_no_url_has_karma(table_dir: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, list(PAGE_URLS))  # none of these pages was posted to Reddit in 2005
    res, _ = run_extract(warc, [{"type": "karma", "table": table_dir, "annotate_only": True}], monkeypatch)
    assert res.kept.num_rows == len(PAGE_URLS)
    assert res.kept.schema.field("karma").type == pa.int64()
    assert res.kept["karma"].null_count == len(PAGE_URLS)
