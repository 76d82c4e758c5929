"""The regression from mixture weights to bits per byte, judged on held-out proxies."""

from __future__ import annotations

import numpy as np
import pytest

from train_smoke.search import regression, sampling

NATURAL = np.array([0.6, 0.3, 0.1])


def weights(n: int, seed: int = 0) -> np.ndarray:
    return sampling.draw(np.random.default_rng(seed), sampling.centre(NATURAL, 0.5), np.zeros(3), np.ones(3), n,
                         0.1, 5.0)


def test_the_regression_recovers_a_planted_linear_relation():
    X = weights(32)
    b = np.array([1.30, 1.10, 1.60])  # bpb of a model trained on each source alone
    y = X @ b + np.random.default_rng(1).normal(0, 0.005, len(X))
    fit = regression.fit(X, {"bpb_mean": y}, "bpb_mean", "auto", seed=0)
    assert fit.chosen == "linear"  # the true model beats the trees on held-out proxies
    assert fit.models["bpb_mean"].coef == pytest.approx(b, abs=0.02)
    held = fit.held_out["bpb_mean"]["linear"]
    assert held.spearman > 0.95 and held.mae < 0.01
    assert "lightgbm" in fit.held_out["bpb_mean"]  # both were tried, both are reported
    assert fit.informative("bpb_mean") and fit.held_out["bpb_mean"]["mean"].mae > 5 * held.mae
    # the best mixture under a linear relation is the corner of its cheapest source
    found, _ = regression.best_mixture(fit.models["bpb_mean"], weights(5000, seed=2), top_k=20)
    assert found.argmax() == 1 and found[1] > 0.9


def test_lightgbm_is_chosen_where_the_relation_is_not_linear():
    X = weights(120)
    y = 1.2 + 2.0 * (X[:, 1] - 0.4) ** 2 + 3.0 * (X[:, 2] > 0.2) * 0.1
    fit = regression.fit(X, {"bpb_mean": y}, "bpb_mean", "auto", seed=0)
    assert fit.chosen == "lightgbm"
    assert fit.held_out["bpb_mean"]["lightgbm"].mae < fit.held_out["bpb_mean"]["linear"].mae
    found, top = regression.best_mixture(fit.models["bpb_mean"], weights(5000, seed=3), top_k=50)
    assert len(top) == 50 and found.sum() == pytest.approx(1.0)
    assert abs(found[1] - 0.4) < 0.15 and found[2] < 0.2  # near the planted minimum


def test_every_proxy_is_held_out_exactly_once():
    f = regression.folds(23, seed=0)
    assert sorted(np.bincount(f).tolist()) == [4, 4, 5, 5, 5]
    assert np.array_equal(f, regression.folds(23, seed=0))


def test_a_fit_to_noise_is_reported_as_not_informative():
    X = weights(30)
    y = 1.5 + np.random.default_rng(4).normal(0, 0.02, len(X))  # bpb that the weights do not explain
    fit = regression.fit(X, {"bpb_mean": y}, "bpb_mean", "auto", seed=0)
    assert not fit.informative("bpb_mean")
