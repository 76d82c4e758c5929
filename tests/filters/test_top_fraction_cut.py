"""quality ``top_fraction``: the cut from a histogram of the 5-decimal scores plus the cut bin's documents is
the cut of the full sort (issue #21, review row 9), on real pages' scores with ties."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from filters.base import build_filter
from filters.quality import SCORE_BINS, score_bin


@pytest.fixture(scope="module")
def scored(data_dir):
    texts = []
    for name in ("langid_pages.jsonl.gz", "heuristics_docs.jsonl.gz"):
        with gzip.open(data_dir / "filters" / name, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    flt = build_filter({"type": "quality", "mode": "top_fraction", "fraction": 0.5})
    s = np.round(flt.scores(texts), 5).astype(np.float32).astype(np.float64)  # as the first pass stores them
    scores = np.concatenate([s, s, s[:7]])  # every page twice, some thrice: ties within bins
    ids = [f"doc{i:04d}" for i in range(len(scores))][::-1]
    return scores, ids


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.3, 0.5, 0.77, 1.0])
def test_the_histogram_cut_is_the_full_sort_cut(scored, fraction):
    scores, ids = scored
    flt = build_filter({"type": "quality", "mode": "top_fraction", "fraction": fraction})
    expected = flt.corpus_cut(scores, ids)
    hist = np.bincount(score_bin(scores), minlength=SCORE_BINS)
    b, rank = flt.cut_bin(hist)
    in_bin = sorted((-float(s), i) for s, i in zip(scores, ids, strict=True) if score_bin(np.array([s]))[0] == b)
    assert len(in_bin) < len(ids) and 1 <= rank <= len(in_bin)
    score, last = in_bin[rank - 1]
    assert (-score, last) == expected


def test_nothing_kept_has_no_cut_bin(scored):
    flt = build_filter({"type": "quality", "mode": "top_fraction", "fraction": 0.0001})
    assert flt.cut_bin(np.bincount(score_bin(scored[0][:3]), minlength=SCORE_BINS)) is None


def test_bins_are_monotonic_in_the_score():
    s = np.array([0.0, 0.000004, 0.00001, 0.5, 0.49999, 0.99999, 1.0], dtype=np.float32).astype(np.float64)
    b = score_bin(s)
    assert list(b) == [0, 0, 1, 50000, 49999, 99999, 100000]
    assert np.all(np.diff(b[np.argsort(s)]) >= 0)
