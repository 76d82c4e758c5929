"""Mixture weights for the proxies: RegMix's Dirichlet draws around the natural shares, inside the bounds."""

from __future__ import annotations

import numpy as np
import pytest

from corpus_forge.config import ConfigError, validate
from train_smoke.search import sampling
from train_smoke.search.config import SearchConfig

# token counts of three sources of very different sizes (a web crawl, books, a small Wikipedia slice)
AVAILABLE = {"web": 6_000_000, "books": 1_500_000, "wiki": 100_000}
NAMES = list(AVAILABLE)


def config(**kw) -> SearchConfig:
    base = {"tokenizer": "tok", "sources": {n: f"{n}/" for n in NAMES}, "proxies": 64,
            "verify": {"tokens": 1_000_000, "seeds": [0, 1, 2]}}
    return validate(SearchConfig, {**base, **kw}, "search")


def test_weights_respect_the_bounds_and_sum_to_one():
    cfg = config(bounds={"books": {"min": 0.1, "max": 0.5}}, max_epochs=4)
    lo, hi = sampling.weight_bounds(cfg, NAMES, AVAILABLE)
    # wiki: at most 4 epochs of its 100k tokens in the 1M-token verification runs = 0.4 of the mix
    assert hi.tolist() == pytest.approx([1.0, 0.5, 0.4])
    assert lo.tolist() == [0.0, 0.1, 0.0]
    natural = sampling.natural_shares(AVAILABLE, NAMES)
    w = sampling.proxy_weights(cfg, natural, lo, hi)
    assert w.shape == (64, 3)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert (w >= lo - 1e-12).all() and (w <= hi + 1e-12).all()
    # the spread covers near-corner mixtures as well as mixtures near the centre
    assert (w.max(axis=1) > 0.85).sum() >= 5
    assert (w.max(axis=1) < 0.6).sum() >= 5


def test_a_proxys_weights_depend_on_its_index_alone():
    natural = sampling.natural_shares(AVAILABLE, NAMES)
    lo, hi = np.zeros(3), np.ones(3)
    w8 = sampling.proxy_weights(config(proxies=8), natural, lo, hi)
    w16 = sampling.proxy_weights(config(proxies=16), natural, lo, hi)
    assert np.array_equal(w8, w16[:8])
    assert not np.array_equal(sampling.proxy_weights(config(proxies=8, seed=1), natural, lo, hi), w8)


def test_candidates_centre_on_the_tempered_natural_shares():
    natural = sampling.natural_shares(AVAILABLE, NAMES)
    cands = sampling.candidate_weights(config(candidates=20_000), natural, np.zeros(3), np.ones(3))
    centre = sampling.centre(natural, 0.5)
    # E[Dirichlet(c * s)] = c for every concentration s: the mean of many draws is the centre
    assert cands.mean(axis=0) == pytest.approx(centre, abs=0.01)
    assert centre[2] > natural[2] * 3  # the temperature lifts the small source (RegMix's reason for it)


def test_bounds_that_cannot_hold_name_the_source():
    with pytest.raises(ConfigError, match=r"bounds\.wiki: min 0\.5 needs more than 4 epochs"):
        sampling.weight_bounds(config(bounds={"wiki": {"min": 0.5}}), NAMES, AVAILABLE)
    with pytest.raises(ConfigError, match="maximum weights add up to"):
        small = {"web": 10_000, "books": 10_000, "wiki": 10_000}
        sampling.weight_bounds(config(), NAMES, small)
    with pytest.raises(ConfigError, match="bounds: 'news' is not a source"):
        config(bounds={"news": {"max": 0.2}})


def test_tight_bounds_are_a_clear_error_not_a_hang():
    natural = sampling.natural_shares(AVAILABLE, NAMES)
    lo, hi = np.array([0.0, 0.0, 0.399]), np.array([0.301, 0.301, 0.4])  # a sliver of the simplex
    with pytest.raises(ConfigError, match="Dirichlet draws around the natural shares fit the bounds"):
        sampling.draw(np.random.default_rng(0), natural, lo, hi, 10, 0.1, 5.0, max_tries=20)
