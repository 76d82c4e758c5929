"""What a search writes: proxies.csv, search.md, weights.png, fit.png, and its section of report.html."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus_forge.io import atomic_path, write_text_atomic
from train_smoke.search import plots, verify
from train_smoke.search.config import MEAN, SearchConfig
from train_smoke.search.regression import Fit

OUTPUTS = ["proxies.csv", "search.md", "mix.yaml", "weights.png", "fit.png", "verify/"]


@dataclass
class Outcome:
    cfg: SearchConfig
    names: list[str]
    rows: list[dict[str, Any]]  # one per proxy, by index
    X: np.ndarray  # (proxies, sources) weights
    targets: dict[str, np.ndarray]  # bpb_<text> and bpb_mean per proxy
    main: str  # the target minimised
    fit: Fit
    mixes: dict[str, dict[str, float]]  # found, natural, equal: weights
    predicted: dict[str, dict[str, float]]  # mix -> target -> predicted bpb (proxy scale)
    top: np.ndarray  # the top_k candidates averaged into the found mix
    available: dict[str, int]
    lo: np.ndarray
    hi: np.ndarray
    verify_rows: list[dict[str, Any]]


def _f(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.3g}"


def proxies_csv(o: Outcome) -> str:
    """One row per proxy: ``weight_<source>``, ``tokens_<source>`` (trained), ``bpb_<text>``, ``bpb_mean``."""
    buf = io.StringIO()
    texts = list(o.targets)
    cols = (["proxy"] + [f"weight_{n}" for n in o.names] + [f"tokens_{n}" for n in o.names] + texts
            + ["val_bpb", "tokens_seen", "train_seconds"])
    w = csv.writer(buf)
    w.writerow(cols)
    for i, r in enumerate(o.rows):
        by = r.get("tokens_seen_by_source") or {}
        w.writerow([r["key"]] + [f"{r['weights'][n]:.6f}" for n in o.names] + [by.get(n, "") for n in o.names]
                   + [f"{o.targets[t][i]:.6f}" for t in texts]
                   + [r.get("val_bpb"), r.get("tokens_seen"), r.get("train_seconds")])
    return buf.getvalue()


def share_error(o: Outcome) -> float:
    """The largest |trained share - asked weight| over proxies and sources (percentage points)."""
    worst = 0.0
    for r in o.rows:
        by = r.get("tokens_seen_by_source") or {}
        total = sum(by.get(n, 0) for n in o.names)
        if total:
            worst = max(worst, max(abs(by.get(n, 0) / total - r["weights"][n]) for n in o.names))
    return 100 * worst


def verdict(o: Outcome) -> tuple[bool, str, dict[str, verify.Pair]]:
    """Whether found beat natural and equal on the target (lower mean, paired p < 0.05), and the line saying so."""
    pairs = {m: verify.compare(o.verify_rows, o.main, m) for m in (verify.NATURAL, verify.EQUAL)}
    beat = all(p.better for p in pairs.values())
    what = "mean bits per byte over the evaluation texts" if o.main == f"bpb_{MEAN}" else o.main
    seeds = len(next(iter(pairs.values())).seeds)
    detail = "; ".join(f"{p.mean:+.4f} bpb vs {m} (paired p {_p(p.paired_p)})" for m, p in pairs.items())
    head = "The found mix beat both obvious mixes" if beat else "The found mix did NOT beat both obvious mixes"
    return beat, f"**{head}** on {what}, {seeds} seeds: {detail}.", pairs


def _fit_table(o: Outcome) -> list[str]:
    lines = ["| target | model | held-out Spearman | held-out MAE (bpb) | held-out RMSE (bpb) |",
             "|---|---|---|---|---|"]
    for t, by in o.fit.held_out.items():
        for k, h in by.items():
            mark = " (chosen)" if k == o.fit.chosen else " (baseline)" if k == "mean" else ""
            lines.append(f"| {t} | {k}{mark} | {_f(h.spearman, 3)} | {_f(h.mae)} | {_f(h.rmse)} |")
    return lines


def _informative_line(o: Outcome) -> str:
    h = o.fit.held_out[o.main]
    base, chosen = h["mean"], h[o.fit.chosen]
    if o.fit.informative(o.main):
        return (f"On held-out proxies the {o.fit.chosen} fit of `{o.main}` ranks them (Spearman {chosen.spearman:.2f}) "
                f"and errs less than their mean does (MAE {chosen.mae:.4f} vs {base.mae:.4f}).")
    return (f"**The fit is not informative**: on held-out proxies the {o.fit.chosen} fit of `{o.main}` has Spearman "
            f"{chosen.spearman:.2f} and MAE {chosen.mae:.4f} against the proxies' mean's {base.mae:.4f}, so the found "
            "mix is close to a random draw; run more proxies (RegMix ran 512).")


def _weights_table(o: Outcome) -> list[str]:
    lines = ["| source | available train tokens | found | natural | equal | bound (min-max) |",
             "|---|---|---|---|---|---|"]
    for i, n in enumerate(o.names):
        lines.append(f"| {n} | {o.available[n]:,} | {o.mixes['found'][n]:.4f} | {o.mixes['natural'][n]:.4f} | "
                     f"{o.mixes['equal'][n]:.4f} | {o.lo[i]:.3f}-{o.hi[i]:.3f} |")
    return lines


def _measured_table(o: Outcome) -> list[str]:
    metrics = list(o.targets)
    lines = ["| mix | " + " | ".join(f"{m} predicted / measured" for m in metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for mix in o.mixes:
        cells = []
        for m in metrics:
            xs = verify.measured(o.verify_rows, mix, m)
            sd = float(np.std(xs, ddof=1)) if len(xs) > 1 else math.nan
            cells.append(f"{_f(o.predicted[mix][m])} / {_f(float(np.mean(xs)) if xs else math.nan)} ± {_f(sd)}")
        lines.append(f"| {mix} | " + " | ".join(cells) + " |")
    return lines


def _pairs_table(o: Outcome) -> list[str]:
    lines = ["| found vs | metric | per-seed differences | mean | paired p | better (mean < 0, p < 0.05) |",
             "|---|---|---|---|---|---|"]
    for m in (verify.NATURAL, verify.EQUAL):
        for metric in o.targets:
            p = verify.compare(o.verify_rows, metric, m)
            per = ", ".join(f"s{s}: {d:+.4f}" for s, d in zip(p.seeds, p.diffs, strict=True))
            better = "yes" if p.better else "no"
            lines.append(f"| {m} | {metric} | {per} | {p.mean:+.4f} | {_p(p.paired_p)} | {better} |")
    return lines


def cost(o: Outcome) -> dict[str, float]:
    """Tokens and training seconds of the proxies and of the verification runs."""
    def total(rows: list[dict[str, Any]], key: str) -> float:
        return float(sum(float(r.get(key) or 0) for r in rows))

    return {"proxy_tokens": total(o.rows, "tokens_seen"), "proxy_seconds": total(o.rows, "train_seconds"),
            "verify_tokens": total(o.verify_rows, "tokens_seen"),
            "verify_seconds": total(o.verify_rows, "train_seconds")}


def search_markdown(o: Outcome) -> str:
    cfg = o.cfg
    _, head, _ = verdict(o)
    c = cost(o)
    ratio = c["proxy_tokens"] / c["verify_tokens"] if c["verify_tokens"] else math.nan
    lines = [head, "", "# Mixture search", "",
             f"{cfg.proxies} proxies (model `{cfg.model}`, {cfg.tokens:,} tokens each, all from seed {cfg.seed}'s "
             f"initial weights) on weights drawn around the natural token shares (Dirichlet, RegMix: centre = "
             f"natural ** {cfg.temperature}, concentration {cfg.min_strength}-{cfg.max_strength}). Target: "
             f"`{o.main}` (lower is better). Trained shares within {share_error(o):.2f} points of the asked "
             "weights (worst proxy and source).", "",
             "## Fit (held out: each proxy predicted by a model fitted without its fifth of the proxies)", "",
             *_fit_table(o), "", _informative_line(o), "",
             "## Found weights", "",
             f"The found mix is the mean weights of the {cfg.top_k} best of {cfg.candidates:,} candidate "
             "mixtures (drawn as the proxies were) by the regression's prediction, as RegMix does: the single "
             "predicted minimum is where the regression's error most flatters a mixture, the mean of many "
             "near-best ones is steadier, and it stays inside the bounds (a convex set).", "",
             *_weights_table(o), "",
             "## Predicted (proxy scale) vs measured (verification scale, mean ± std over seeds)", "",
             f"Predictions are for a proxy ({cfg.tokens:,} tokens); the verification runs train "
             f"{cfg.verify.tokens:,} tokens, so only the order of the mixes is expected to carry over.", "",
             *_measured_table(o), "",
             f"## Verification: found vs the obvious mixes, paired by seed ({cfg.verify.tokens:,} tokens, seeds "
             f"{cfg.verify.seeds})", "",
             "Difference found − other per seed (negative: found is better); two-sided paired t-test. The full "
             "ablation (Welch p-values, every pair) is in [verify/results.md](verify/results.md).", "",
             *_pairs_table(o), "",
             "## Compute", "",
             f"Proxies: {c['proxy_tokens']:,.0f} tokens, {c['proxy_seconds']:,.0f} s of training; verification: "
             f"{c['verify_tokens']:,.0f} tokens, {c['verify_seconds']:,.0f} s. The search cost "
             f"{_f(ratio, 2)}x the verification's tokens.", "",
             "Files: [proxies.csv](proxies.csv), [mix.yaml](mix.yaml) (ready for `pack`), "
             "[weights.png](weights.png), [fit.png](fit.png), [verify/](verify/results.md).", ""]
    return "\n".join(lines)


def write_outputs(o: Outcome, out: str) -> dict[str, Any]:
    """proxies.csv, search.md, weights.png, fit.png; the ``search`` block of stats.json."""
    write_text_atomic(os.path.join(out, "proxies.csv"), proxies_csv(o))
    write_text_atomic(os.path.join(out, "search.md"), search_markdown(o))
    for name, draw in (("weights.png", plots.weights_figure), ("fit.png", plots.fit_figure)):
        with atomic_path(os.path.join(out, name)) as tmp:
            draw(o, tmp)
    beat, head, pairs = verdict(o)
    held = o.fit.held_out[o.main][o.fit.chosen]
    fit = [{"target": t, "model": k, "chosen": k == o.fit.chosen, "spearman": h.spearman, "mae": h.mae,
            "rmse": h.rmse} for t, by in o.fit.held_out.items() for k, h in by.items()]
    compared = [{"vs": m, "metric": metric, "mean": p.mean, "paired_p": p.paired_p, "better": p.better,
                 "diffs": dict(zip(map(str, p.seeds), p.diffs, strict=True))}
                for m in (verify.NATURAL, verify.EQUAL) for metric in o.targets
                for p in [verify.compare(o.verify_rows, metric, m)]]
    return {"proxies": len(o.rows), "target": o.main, "regression": o.fit.chosen,
            "held_out_spearman": held.spearman, "held_out_mae": held.mae, "fit": fit,
            "fit_informative": o.fit.informative(o.main),
            "found": o.mixes["found"], "natural": o.mixes["natural"], "equal": o.mixes["equal"],
            "beat_both": beat, "vs": {m: {"mean": p.mean, "paired_p": p.paired_p} for m, p in pairs.items()},
            "verification": compared, "headline": head.replace("**", ""), "share_error_points": share_error(o),
            **cost(o), "outputs": OUTPUTS}
