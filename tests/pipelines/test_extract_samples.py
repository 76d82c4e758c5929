"""The bundled samples through extract: counts agree with samples/MANIFEST.tsv, and charsets decode.

The manifest is written by samples/build_samples.py from the records it writes, not by the extractor.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from corpus_forge.stats import Counters
from pipelines.extract import ExtractStage

SAMPLES = Path(__file__).parents[2] / "samples"


@pytest.fixture(scope="module")
def extracted():
    stage = ExtractStage()
    total, rows = Counters(), []
    for part in stage.partitions([str(SAMPLES / "*.warc.gz")]):
        res = stage.process(part)
        res.counters.documents_out = res.kept.num_rows
        res.counters.check(part.key)
        total = total.merge(res.counters)
        rows += res.kept.to_pylist()
    return total, {r["url"]: r for r in rows}


def manifest() -> list[dict[str, str]]:
    with open(SAMPLES / "MANIFEST.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_counts_match_the_manifest(extracted):
    counters, docs = extracted
    rows = manifest()
    responses = [r for r in rows if r["warc_type"] == "response"]
    expected = Counter()
    expected["not_response"] = len(rows) - len(responses)
    expected["http_status"] = sum(r["http_status"] != "200" for r in responses)
    expected["not_html"] = sum(r["http_status"] == "200" and not r["content_type"].startswith("text/html")
                               for r in responses)
    pages = {r["url"] for r in responses if r["http_status"] == "200" and r["content_type"].startswith("text/html")}
    assert counters.documents_in == len(rows)
    assert dict(counters.removed) == {k: v for k, v in expected.items() if v}
    assert set(docs) == pages


def test_labelled_synthetic_captures_carry_what_the_manifest_says(extracted):
    _, docs = extracted
    notes = {r["url"]: r["note"] for r in manifest() if r["warc_type"] == "response"}
    recaptures = [u for u, n in notes.items() if n.startswith("synthetic re-capture")]
    assert len(recaptures) == 3
    for u in recaptures:  # same bytes under a tracking-parameter URL: the same extracted text
        assert docs[u]["text"] == docs[u.split("?utm_source")[0].rstrip("?&")]["text"]
    (planted,) = [u for u, n in notes.items() if n.startswith("synthetic contamination")]
    assert "Janet" in docs[planted]["text"]  # GSM8K test item 0: Janet's ducks


def test_legacy_charsets_decode_to_real_text(extracted):
    _, docs = extracted
    # ISO-8859-1 announced in the HTTP header (German agricultural news)
    proplanta = next(d for u, d in docs.items() if "proplanta.de" in u)
    assert proplanta["charset"] == "cp1252" and "ö" in proplanta["text"] and "Ã¶" not in proplanta["text"]
    # GB2312 announced in the header (Xinhua, via the Wayback Machine)
    xinhua = next(d for u, d in docs.items() if "xinhuanet.com" in u)
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in xinhua["text"]) > 100
    # UTF-8 with one bad byte and no declaration: read as UTF-8, not guessed as cp1250 ("MĂ¤scot")
    maescot = docs["http://www.maescot.de/kleine-schafskunde/"]
    assert "Mäscot" in maescot["text"] and "MĂ¤scot" not in maescot["text"]
    assert maescot["charset"] == "utf-8"
