"""Mixture weights drawn as RegMix draws them, inside the search's bounds.

RegMix (Liu et al. 2024, ``mixture_config/synthesize_mixture.py``): the centre is the natural token shares
raised to a temperature (0.5) and renormalised, so that small sources are tried too; each draw picks a
concentration from 15 values log-spaced between 0.1 and 5.0 and draws ``Dirichlet(centre * concentration)``.
A small concentration puts nearly all the weight on one or two sources (near-corner mixtures), a large one
stays near the centre. Draws outside the bounds are rejected (RegMix bounds each source by how often it
could repeat at the final budget; ours also takes a minimum and maximum weight per source).

Every draw is a pure function of ``(seed, stream, index)``: proxy ``i``'s weights do not depend on how many
proxies the search has, and the candidates scored by the regression are one seeded stream.
"""

from __future__ import annotations

import numpy as np

from corpus_forge.config import ConfigError
from train_smoke.search.config import SearchConfig

PROXY_STREAM = 0x5EA7C4  # proxy i: default_rng([seed, PROXY_STREAM, i])
CANDIDATE_STREAM = 0xCA4D1D
STRENGTHS = 15  # RegMix: np.logspace(log10(min), log10(max), 15)


def weight_bounds(cfg: SearchConfig, names: list[str], available: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) weight per source: the configured min / max, and at most ``max_epochs`` passes over a
    source's available train tokens at the verification budget. A ConfigError when nothing fits."""
    lo = np.array([cfg.bound(n).min for n in names], dtype=np.float64)
    hi = np.array([cfg.bound(n).max for n in names], dtype=np.float64)
    for i, n in enumerate(names):
        epochs = cfg.bound(n).max_epochs or cfg.max_epochs
        hi[i] = min(hi[i], epochs * available[n] / cfg.verify.tokens)
        if hi[i] < lo[i]:
            raise ConfigError(f"bounds.{n}: min {lo[i]:g} needs more than {epochs:g} epochs of its "
                              f"{available[n]:,} tokens at verify.tokens {cfg.verify.tokens:,} (max weight "
                              f"{hi[i]:.4g})")
    if hi.sum() < 1:
        raise ConfigError(f"bounds: the maximum weights add up to {hi.sum():.4g} < 1 (max_epochs of each source's "
                          f"tokens at verify.tokens {cfg.verify.tokens:,}); allow more epochs or a smaller budget")
    return lo, hi


def centre(natural: np.ndarray, temperature: float) -> np.ndarray:
    """The natural shares ** temperature, renormalised (RegMix's TEMP)."""
    c = np.asarray(natural, dtype=np.float64) ** temperature
    return c / c.sum()


def draw(rng: np.random.Generator, prior: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int,
         min_strength: float, max_strength: float, max_tries: int = 2000) -> np.ndarray:
    """``n`` weight vectors (n, S) from Dirichlet(prior * strength) with a random strength per draw, each
    inside ``[lo, hi]``; a ConfigError when the bounds reject nearly every draw."""
    strengths = np.logspace(np.log10(min_strength), np.log10(max_strength), STRENGTHS)
    out: list[np.ndarray] = []
    got, batch = 0, max(64, 4 * n)
    for _ in range(max_tries):
        picks = rng.integers(0, STRENGTHS, size=batch)
        # numpy's dirichlet stays exact for tiny concentrations (stick-breaking on betas), so draw per strength
        w = np.concatenate([rng.dirichlet(prior * strengths[k], size=int((picks == k).sum()))
                            for k in range(STRENGTHS)])
        w = w[rng.permutation(len(w))]  # the strengths mixed again, as drawn
        w = w[np.all(np.isfinite(w), axis=1)]
        w = w[np.all((w >= lo) & (w <= hi), axis=1)]
        out.append(w)
        got += len(w)
        if got >= n:
            return np.concatenate(out)[:n]
    raise ConfigError(f"bounds: only {got} of {n} Dirichlet draws around the natural shares fit the bounds "
                      f"(lo {np.round(lo, 4).tolist()}, hi {np.round(hi, 4).tolist()}); loosen them")


def proxy_weights(cfg: SearchConfig, natural: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The weights of every proxy (proxies, S); row ``i`` depends on (seed, i) alone."""
    prior = centre(natural, cfg.temperature)
    rows = [draw(np.random.default_rng([cfg.seed, PROXY_STREAM, i]), prior, lo, hi, 1, cfg.min_strength,
                 cfg.max_strength)[0] for i in range(cfg.proxies)]
    return np.stack(rows)


def candidate_weights(cfg: SearchConfig, natural: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The candidate mixtures scored by the regression (candidates, S), from the proxies' distribution."""
    rng = np.random.default_rng([cfg.seed, CANDIDATE_STREAM])
    return draw(rng, centre(natural, cfg.temperature), lo, hi, cfg.candidates, cfg.min_strength, cfg.max_strength)


def natural_shares(available: dict[str, int], names: list[str]) -> np.ndarray:
    t = np.array([available[n] for n in names], dtype=np.float64)
    if t.sum() <= 0:
        raise ConfigError(f"sources: no train tokens in {', '.join(names)}")
    return t / t.sum()
