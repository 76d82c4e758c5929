"""The ablation's plots: ``loss.png`` (mean bits per byte over the evaluation texts during training, the
number mixes are ranked by, per mix: mean over seeds, min-max shaded) and ``bpb.png`` (final bits per byte
per mix and evaluation text)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from corpus_forge.io import path_exists, read_text
from train_smoke.ablate_results import _mean, _std, metrics, value


def curve(run_dir: str) -> tuple[list[int], list[float]]:
    """(steps, mean bpb over the evaluation texts' first curve_bytes) from a run's metrics.jsonl."""
    steps, bpb = [], []
    path = os.path.join(run_dir, "metrics.jsonl")
    if path_exists(path):
        for line in read_text(path).splitlines():
            row = json.loads(line) if line.strip() else {}
            if "curve_bpb_mean" in row:
                steps.append(row["step"])
                bpb.append(row["curve_bpb_mean"])
    return steps, bpb


def plot_loss(runs: list[dict[str, Any]], order: list[str], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in order:
        curves = [c for c in (curve(r["run_dir"]) for r in runs if r["mix"] == m) if c[0]]
        if not curves:
            continue
        n = min(len(c[0]) for c in curves)
        run = next(r for r in runs if r["mix"] == m)
        x = np.array(curves[0][0][:n]) * run["tokens_seen"] / run["steps"]
        ys = np.array([c[1][:n] for c in curves])
        (line,) = ax.plot(x, ys.mean(0), label=f"{m} ({len(curves)} seeds)")
        ax.fill_between(x, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("tokens")
    ax.set_ylabel("bits per byte, mean over the evaluation texts")
    ax.set_title("Evaluation texts during training (the same texts for every mix)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_bpb(runs: list[dict[str, Any]], order: list[str], path: str | Path) -> None:
    """Final bits per byte per mix and evaluation text, bars at the mean, error bars one std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = [c for c in metrics(runs) if c != "val_bpb"]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cols) * len(order) / 2), 4.5))
    width = 0.8 / max(1, len(order))
    for i, m in enumerate(order):
        rs = [r for r in runs if r["mix"] == m]
        means = [_mean([value(r, k) for r in rs]) for k in cols]
        stds = [0.0 if math.isnan(s) else s for s in (_std([value(r, k) for r in rs]) for k in cols)]
        ax.bar(np.arange(len(cols)) + i * width, means, width, yerr=stds, capsize=4, label=m)
    ax.set_xticks(np.arange(len(cols)) + width * (len(order) - 1) / 2)
    ax.set_xticklabels([k.removeprefix("bpb_") for k in cols])
    ax.set_ylabel("bits per byte (lower is better)")
    ax.set_title("Final bits per byte, mean ± std over seeds")
    lo = min((value(r, k) for r in runs for k in cols), default=0)
    ax.set_ylim(max(0, lo - 0.3), None)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
