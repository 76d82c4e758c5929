"""From mixture weights to bits per byte: fit, cross-validate, predict.

Two models, both judged on held-out proxies (5 folds: each proxy is predicted by a model fitted without its
fifth of the proxies):

- ``lightgbm``: gradient-boosted trees on the weights, RegMix's choice (Liu et al. 2024 fit LightGBM on 512
  proxies; with tens of proxies the leaves must be allowed to hold few of them, see :data:`LGBM_PARAMS`);
- ``linear``: least squares of bpb on the weights (``bpb = sum_i w_i b_i``: the weights sum to 1, so the
  intercept is implicit), RegMix's linear baseline; ``numpy.linalg.lstsq``.

``auto`` takes the model with the smaller held-out mean absolute error on the search's target. The
reported figures (Spearman rank correlation, mean absolute error) are the held-out ones, beside the baseline
``mean`` (every mixture predicted at the proxies' mean): a fit that does not beat it (or does not rank the
held-out proxies, Spearman <= 0) is not informative, and the search says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FOLDS = 5
FOLD_STREAM = 0xF01D

# LightGBM as RegMix's notebook sets it (regression objective, learning rate 1e-2, 1000 rounds), with leaves
# that may hold 2+ proxies: LightGBM's default of 20 per leaf cannot split 20-30 proxies at all.
LGBM_PARAMS: dict[str, Any] = {"objective": "regression", "learning_rate": 0.01, "num_leaves": 8,
                               "min_data_in_leaf": 2, "min_data_in_bin": 1, "min_sum_hessian_in_leaf": 0.0,
                               "verbose": -1, "seed": 0, "deterministic": True, "force_row_wise": True,
                               "num_threads": 1}
LGBM_ROUNDS = 1000


class LinearModel:
    """``y = X @ coef`` by least squares (minimum-norm when the proxies do not pin every weight down)."""

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        self.coef, *_ = np.linalg.lstsq(np.asarray(X, np.float64), np.asarray(y, np.float64), rcond=None)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, np.float64) @ self.coef


class LightGBMModel:
    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        import lightgbm as lgb

        data = lgb.Dataset(np.asarray(X, np.float64), label=np.asarray(y, np.float64),
                           params={"min_data_in_bin": 1, "verbose": -1})
        self.booster = lgb.train(LGBM_PARAMS, data, num_boost_round=LGBM_ROUNDS)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(np.asarray(X, np.float64)), np.float64)


class MeanModel:
    """The baseline: every mixture gets the mean bpb of the proxies fitted on (a regression must beat it)."""

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        self.mean = float(np.mean(y))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(np.atleast_2d(X)), self.mean)


MODELS = {"lightgbm": LightGBMModel, "linear": LinearModel, "mean": MeanModel}
BASELINE = "mean"


def lightgbm_available() -> bool:
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return False
    return True


def folds(n: int, seed: int) -> np.ndarray:
    """The fold (0..4) of each of ``n`` proxies: a seeded permutation cut into five near-equal parts."""
    order = np.random.default_rng([seed, FOLD_STREAM]).permutation(n)
    fold = np.empty(n, np.int64)
    fold[order] = np.arange(n) % FOLDS
    return fold


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(stats.spearmanr(a, b).statistic)


@dataclass
class HeldOut:
    """One model's held-out predictions of one target, and how good they are."""

    model: str
    predicted: np.ndarray
    spearman: float
    mae: float
    rmse: float


def cross_validate(kind: str, X: np.ndarray, y: np.ndarray, seed: int) -> HeldOut:
    """Each proxy predicted by ``kind`` fitted on the other four fifths."""
    fold = folds(len(y), seed)
    pred = np.empty(len(y), np.float64)
    for k in range(FOLDS):
        test = fold == k
        if test.any():
            pred[test] = MODELS[kind](X[~test], y[~test]).predict(X[test])
    err = pred - y
    # the baseline ranks nothing (its held-out "ranking" is an artefact of the folds' means)
    rank = math.nan if kind == BASELINE else spearman(pred, y)
    return HeldOut(kind, pred, rank, float(np.abs(err).mean()), float(np.sqrt((err**2).mean())))


@dataclass
class Fit:
    """The chosen model per target, fitted on every proxy, and the held-out figures of every model tried."""

    chosen: str
    models: dict[str, Any]  # target -> fitted model (the chosen kind)
    held_out: dict[str, dict[str, HeldOut]]  # target -> kind -> held-out predictions (the baseline too)

    def informative(self, target: str) -> bool:
        """The chosen model ranks held-out proxies (Spearman > 0) and errs less than their mean does."""
        h, base = self.held_out[target][self.chosen], self.held_out[target][BASELINE]
        return h.spearman > 0 and h.mae < base.mae

    def predict(self, target: str, X: np.ndarray) -> np.ndarray:
        return self.models[target].predict(np.atleast_2d(X))


def fit(X: np.ndarray, targets: dict[str, np.ndarray], main: str, kind: str, seed: int) -> Fit:
    """Cross-validate the candidate kinds on every target; choose by held-out MAE on ``main`` (``auto``),
    then fit the chosen kind on all proxies, per target."""
    kinds = ["lightgbm", "linear"] if lightgbm_available() else ["linear"]
    if kind != "auto":
        if kind == "lightgbm" and not lightgbm_available():
            raise ValueError("regression: lightgbm is not installed (pip install lightgbm), or use 'linear'")
        kinds = [kind]
    held = {t: {k: cross_validate(k, X, y, seed) for k in [*kinds, BASELINE]} for t, y in targets.items()}
    chosen = min(kinds, key=lambda k: (held[main][k].mae, kinds.index(k)))
    return Fit(chosen, {t: MODELS[chosen](X, y) for t, y in targets.items()}, held)


def best_mixture(model: Any, candidates: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean weights of the ``top_k`` candidates with the lowest prediction, and those candidates' indices.

    RegMix averages the top-ranked candidates instead of taking the single best: the regression's minimum is
    where its error is most likely to be on our side, and the mean of many near-best mixtures is a steadier
    estimate. The bounds are a box on the simplex, a convex set, so the mean stays inside them."""
    pred = model.predict(candidates)
    top = np.argsort(pred, kind="stable")[:top_k]
    w = candidates[top].mean(axis=0)
    return w / w.sum(), top
