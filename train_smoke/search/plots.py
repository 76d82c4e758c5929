"""weights.png (the found weights beside natural and equal) and fit.png (held-out predicted vs measured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def weights_figure(o: Any, path: str | Path) -> None:
    """Bars per source: found, natural, equal; the spread of the top candidates as the found bar's range."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(o.names) + 2), 4.2))
    x = np.arange(len(o.names))
    width = 0.27
    for i, mix in enumerate(("found", "natural", "equal")):
        vals = [o.mixes[mix][n] for n in o.names]
        kw = {}
        if mix == "found" and len(o.top):
            lo, hi = o.top.min(axis=0), o.top.max(axis=0)
            kw = {"yerr": [np.array(vals) - lo, hi - np.array(vals)], "capsize": 4}
        ax.bar(x + (i - 1) * width, vals, width, label=mix, **kw)
    ax.set_xticks(x)
    ax.set_xticklabels(o.names)
    ax.set_ylabel("share of trained tokens")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Found weights vs the obvious mixes\n(found: mean of the top {len(o.top)} candidates, whiskers "
                 "their range)", fontsize=10)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fit_figure(o: Any, path: str | Path) -> None:
    """Held-out predicted vs measured bits per byte per target (one panel each), for the chosen model."""
    plt = _plt()
    targets = list(o.targets)
    cols = min(3, len(targets))
    rows = -(-len(targets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    for ax, t in zip(axes.ravel(), targets, strict=False):
        h = o.fit.held_out[t][o.fit.chosen]
        y = o.targets[t]
        ax.scatter(y, h.predicted, s=18)
        lo, hi = float(min(y.min(), h.predicted.min())), float(max(y.max(), h.predicted.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
        ax.set_title(f"{t}: Spearman {h.spearman:.2f}, MAE {h.mae:.3f}", fontsize=9)
        ax.set_xlabel("measured bpb (proxy)")
        ax.set_ylabel("predicted, held out")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(targets):]:
        ax.axis("off")
    fig.suptitle(f"{o.fit.chosen} regression, 5-fold held-out predictions ({len(o.rows)} proxies)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
