"""Wikipedia removal: URLs, the MediaWiki dump parser, and n-gram overlap with a reference."""

from __future__ import annotations

import gzip
import json
import re
import statistics

import pytest
from decontam_helpers import DATA, doc_table

from filters.support.ngrams import DocWords
from filters.wikipedia import (
    ReferenceNgrams,
    WikipediaUrlFilter,
    iter_dump_articles,
    iter_reference_texts,
    strip_wikitext,
)
from pipelines.decontaminate import OVERLAP_COLUMN, DecontaminateStage

WIKI = DATA / "wiki"
SAMPLE = WIKI / "enwiki-sample.xml.bz2"
MARKUP = re.compile(r"\{\{|\}\}|\[\[|\]\]|'''|<ref|\{\||\|\}|__[A-Z]+__")


def clough() -> list[dict]:
    with gzip.open(WIKI / "clough_stevenson.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_wikipedia_urls_are_recognised():
    f = WikipediaUrlFilter()
    for url in ("https://en.wikipedia.org/wiki/Albedo", "http://de.m.wikipedia.org/wiki/X", "en.wikipedia.org/w",
                "https://WIKIPEDIA.ORG/"):
        assert f.url_decision(url) == ("wikipedia_url", {}), url
    for url in ("https://wikipedia.org.example.com/", "https://notwikipedia.org/", "https://example.com/wikipedia.org",
                None, "", "http://[broken"):
        assert f.url_decision(url)[0] is None, url


def test_dump_sample_parses_to_article_text():
    arts = list(iter_dump_articles(str(SAMPLE)))
    # 7 pages in file order; AccessibleComputing and the Wikipedia: (namespace 4) page are redirects.
    assert [a.title for a in arts] == ["Animalia (book)", "Alain Connes", "Arithmetic mean",
                                       "Affirming the consequent", "Aa River"]
    connes = arts[1]
    assert connes.page_id == "340"
    assert "is a French mathematician, currently Professor at the Collège de France" in connes.text
    assert "Alain Connes studies operator algebras." in connes.text
    for a in arts:
        assert not MARKUP.search(a.text), (a.title, MARKUP.search(a.text))
        assert len(a.text) > 500
    mean = arts[2].text
    assert "the arithmetic mean is used frequently in fields such as economics, sociology, and history" in mean
    assert "refimprove" not in mean and "cite book" not in mean


def test_table_markup_sample_is_stripped():
    arts = list(iter_dump_articles(str(WIKI / "enwiki-table-markup.xml.bz2")))
    assert arts
    for a in arts:
        assert "{|" not in a.text and "|}" not in a.text and "{{" not in a.text


def test_strip_wikitext_by_hand():
    src = ("'''Bold''' [[Link|label]] and [[Plain]] {{cite|x={{nested}}}} text<ref>note</ref>."
           "[[File:X.jpg|thumb|a [[caption]]]] [[Category:Y]] [http://a.b site] &amp; <!-- c -->\n== Head ==\n* item")
    assert strip_wikitext(src) == "Bold label and Plain  text.  site &\nHead\nitem"


def test_malformed_dump_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<mediawiki><page><title>x</title><text>unclosed</page>")
    with pytest.raises(ValueError, match=r"bad\.xml"):
        list(iter_dump_articles(str(bad)))


def test_overlap_orders_the_plagiarism_corpus_by_how_much_was_copied():
    """Clough & Stevenson: answers written from 5 Wikipedia texts by copy-paste (cut), light or heavy
    revision, or independently (non). Overlap with the 5 texts must follow that order, non being 0."""
    rows = clough()
    ref_texts = [r["text"] for r in rows if r["category"] == "orig"]
    ref = ReferenceNgrams.from_texts(ref_texts)
    answers = [r for r in rows if r["category"] != "orig"]
    frac, _ = ref.overlap(DocWords.from_texts([r["text"] for r in answers]))
    by: dict[str, list[float]] = {}
    for r, f in zip(answers, frac.tolist(), strict=True):
        by.setdefault(r["category"], []).append(f)
    assert len(by["non"]) == 38 and max(by["non"]) == 0.0
    means = {k: statistics.mean(v) for k, v in by.items()}
    assert means["cut"] > means["light"] > means["heavy"] > means["non"] == 0.0


def test_stage_drops_wikipedia_urls_and_mirrors(tmp_path, pages):
    rows = clough()
    ref_path = tmp_path / "wiki.txt"
    ref_path.write_text("\n\n".join(r["text"] for r in rows if r["category"] == "orig"), encoding="utf-8")
    orig = [r["text"] for r in rows if r["category"] == "orig"]
    mirror = "Home | About | Contact\n\n" + orig[1] + "\n\nCopyright 2009 Example Mirror. All rights reserved."
    independent = [r["text"] for r in rows if r["category"] == "non"][:5]
    texts = [mirror, pages[0]["text"], pages[1]["text"], *independent]
    urls = [None, "https://en.wikipedia.org/wiki/PageRank", pages[1]["url"]] + [None] * 5
    stage = DecontaminateStage(benchmarks=["humaneval"], wikipedia_reference=[str(ref_path)])
    res = stage.process_table(doc_table(texts, urls))
    res.counters.check()
    assert res.counters.documents_in == 8
    assert res.counters.removed == {"wikipedia_overlap": 1, "wikipedia_url": 1}
    assert dict(zip(res.removed.column("id").to_pylist(), res.removed.column("reason").to_pylist(),
                    strict=True)) == {"doc-0": "wikipedia_overlap", "doc-1": "wikipedia_url"}
    assert res.kept.column(OVERLAP_COLUMN).to_pylist() == [0.0] * 6


def test_dump_reference_catches_a_scrape_rendered_by_another_parser(tmp_path, pages):
    """A scrape of the same articles, rendered by mwparserfromhell instead of our stripper."""
    mw = pytest.importorskip("mwparserfromhell")
    import bz2

    xml = bz2.open(SAMPLE).read().decode("utf-8")
    wikitext = re.search(r"<title>Arithmetic mean</title>.*?<text[^>]*>(.*?)</text>", xml, re.S).group(1)
    import html

    scrape = mw.parse(html.unescape(wikitext)).strip_code()
    stage = DecontaminateStage(benchmarks=["humaneval"], wikipedia_reference=[str(SAMPLE)])
    res = stage.process_table(doc_table([scrape, pages[2]["text"]]))
    res.counters.check()
    assert res.removed.column("id").to_pylist() == ["doc-0"]
    assert res.removed.column(OVERLAP_COLUMN).to_pylist()[0] > 0.5


def test_reference_formats_and_sampling(tmp_path):
    rows = clough()
    orig = [r["text"] for r in rows if r["category"] == "orig"]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": orig}), tmp_path / "ref.parquet")
    (tmp_path / "ref.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in orig))
    (tmp_path / "ref.txt").write_text("\n\n".join(orig))
    sets = [ReferenceNgrams.build([str(tmp_path / f"ref.{ext}")]) for ext in ("parquet", "jsonl", "txt")]
    assert len(sets[0]) == len(sets[1]) > 0
    assert len(sets[2]) >= len(sets[0])  # the text file also has n-grams across article boundaries
    assert list(iter_reference_texts(str(tmp_path / "ref.jsonl"))) == orig
    full = sets[0]
    full.save(str(tmp_path / "ref.npy"))
    assert len(ReferenceNgrams.build([str(tmp_path / "ref.npy")])) == len(full)
    sampled = ReferenceNgrams.build([str(tmp_path / "ref.parquet")], sample=8)
    assert 0 < len(sampled) < len(full) / 4  # about 1 in 8 kept
    frac, total = sampled.overlap(DocWords.from_texts(orig))
    assert (total > 0).all() and (frac == 1.0).all()  # each source text is fully inside the reference
