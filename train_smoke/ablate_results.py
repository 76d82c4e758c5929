"""The ablation's tables: ``results.csv`` (one row per run) and ``results.md`` (mean ± std per mix and
evaluation text, paired differences by seed with paired and Welch p-values, the ranking), from the runs'
summaries.

Mixes are ranked, and the best one named, by ``bpb_mean``: the mean over the fixed evaluation texts of each
text's bits per byte, the one number that is comparable across mixes. Each mix's ``val_loss`` is on its own
validation split (a different text per mix) and is shown, labelled so, never ranked on. Every table names the
source shares each mix actually trained (``tokens_seen_by_source``) beside the shares it was packed with.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from pathlib import Path
from typing import Any

from corpus_forge.io import atomic_path, write_text_atomic

RANK_METRIC = "bpb_mean"


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _std(xs: list[float]) -> float:
    """Sample standard deviation (n - 1); nan below two values."""
    if len(xs) < 2:
        return math.nan
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def paired_p(diffs: list[float]) -> float:
    """Two-sided paired t-test p-value of per-seed differences (nan below two pairs)."""
    from scipy import stats

    if len(diffs) < 2:
        return math.nan
    if _std(diffs) == 0:
        return 0.0 if _mean(diffs) != 0 else 1.0
    return float(stats.ttest_1samp(diffs, 0.0).pvalue)


def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided Welch (unequal variances) t-test p-value (nan below two runs per side)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return math.nan
    if _std(a) == 0 and _std(b) == 0:
        return 0.0 if _mean(a) != _mean(b) else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def bpb_mean(run: dict[str, Any]) -> float:
    """Mean over the evaluation texts of their bits per byte (older summaries: computed from eval_bpb)."""
    if run.get("bpb_mean") is not None:
        return float(run["bpb_mean"])
    per = run.get("eval_bpb") or {}
    return _mean(list(per.values())) if per else float(run["val_bpb"])


def metrics(runs: list[dict[str, Any]]) -> list[str]:
    """Columns to compare: the ranking mean, each evaluation text's, and the pooled val_bpb."""
    names = sorted({n for r in runs for n in r.get("eval_bpb", {})})
    return [RANK_METRIC] + [f"bpb_{n}" for n in names] + ["val_bpb"]


def value(run: dict[str, Any], metric: str) -> float:
    if metric == RANK_METRIC:
        return bpb_mean(run)
    if metric == "val_bpb":
        return run["val_bpb"]
    return run["eval_bpb"][metric.removeprefix("bpb_")]


def mean_by_mix(runs: list[dict[str, Any]], order: list[str], metric: str = RANK_METRIC) -> dict[str, float]:
    return {m: _mean([value(r, metric) for r in runs if r["mix"] == m]) for m in order}


def ranking(runs: list[dict[str, Any]], order: list[str]) -> list[str]:
    """Mixes best first by mean bits per byte over the evaluation texts."""
    means = mean_by_mix(runs, order)
    return sorted(order, key=lambda m: means[m])


def _fmt(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.3g}"


def results_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One CSV row per run: mix, seed, bpb_mean, bpb_<text>, the scalar summary fields, and per source its
    tokens trained and share (``tokens_<source>``, ``share_<source>``) and packed share (``packed_<source>``)."""
    rows = []
    for r in runs:
        row: dict[str, Any] = {"mix": r["mix"], "seed": r["seed"], RANK_METRIC: bpb_mean(r)}
        row.update({f"bpb_{n}": v for n, v in sorted(r.get("eval_bpb", {}).items())})
        row.update({k: v for k, v in r.items() if k not in row and k != "eval_bpb" and not isinstance(v, dict)})
        for name, tokens in (r.get("tokens_seen_by_source") or {}).items():
            row[f"tokens_{name}"] = tokens
            row[f"share_{name}"] = (r.get("source_shares") or {}).get(name)
        for name, share in (r.get("packed_shares") or {}).items():
            row[f"packed_{name}"] = share
        rows.append(row)
    return rows


def _shares_line(rs: list[dict[str, Any]]) -> str:
    """``web 70.1% (packed 70.0%), books 29.9% (30.0%)`` for a mix's first run (shares agree across seeds)."""
    r = rs[0]
    trained, packed = r.get("source_shares") or {}, r.get("packed_shares") or {}
    parts = []
    for name, share in trained.items():
        p = packed.get(name)
        parts.append(f"{name} {100 * share:.1f}%" + (f" (packed {100 * p:.1f}%)" if p is not None else ""))
    return ", ".join(parts) or "n/a"


def results_markdown(runs: list[dict[str, Any]], order: list[str]) -> str:
    cols = metrics(runs)
    by_mix = {m: [r for r in runs if r["mix"] == m] for m in order}
    first = runs[0] if runs else {}
    texts = ", ".join(sorted({n for r in runs for n in r.get("eval_bpb", {})}))
    lines = ["# Ablation", "",
             f"Model `{first.get('model')}`, {first.get('tokens_seen', 0):,} tokens per run, seeds "
             f"{sorted({r['seed'] for r in runs})}. Bits per byte (lower is better) on the fixed evaluation texts "
             f"({texts}); `{RANK_METRIC}` is their mean and ranks the mixes. `own val_loss` is each mix's own "
             "validation split (a different text per mix: not comparable across mixes). Mean ± std over seeds.",
             "", "| mix | runs | " + " | ".join(cols) + " | own val_loss | tokens trained by source |",
             "|---|---|" + "---|" * (len(cols) + 2)]
    for m, rs in by_mix.items():
        cells = [f"{_fmt(_mean(c))} ± {_fmt(_std(c))}"
                 for c in [[value(r, k) for r in rs] for k in cols] + [[r["val_loss"] for r in rs]]]
        lines.append(f"| {m} | {len(rs)} | " + " | ".join(cells) + f" | {_shares_line(rs)} |")
    hs = [r for r in runs if r.get("hellaswag_acc_norm") is not None]
    if hs:
        lines += ["", "HellaSwag (zero-shot, acc_norm = log-likelihood per character of the ending, "
                  "lm-eval-harness): " + ", ".join(
                      f"{m} {_fmt(_mean([r['hellaswag_acc_norm'] for r in hs if r['mix'] == m]), 3)}"
                      for m in order)]
    lines += ["", "## Pairs", "",
              "Difference a − b per seed (negative: a is better), paired t-test and Welch p-values (two-sided). "
              "*Beyond seed spread*: every seed's difference has the same sign and |mean| > 2 std of the differences.",
              "",
              "| a | b | metric | per-seed differences | mean ± std | paired p | Welch p | beyond seed spread |",
              "|---|---|---|---|---|---|---|---|"]
    for a, b in itertools.combinations(order, 2):
        ra = {r["seed"]: r for r in by_mix[a]}
        rb = {r["seed"]: r for r in by_mix[b]}
        seeds = sorted(set(ra) & set(rb))
        for k in cols:
            d = [value(ra[s], k) - value(rb[s], k) for s in seeds]
            mean, std = _mean(d), _std(d)
            same_sign = bool(d) and (all(x < 0 for x in d) or all(x > 0 for x in d))
            beyond = "yes" if same_sign and len(d) > 1 and abs(mean) > 2 * std else "no"
            per = ", ".join(f"s{s}: {x:+.4f}" for s, x in zip(seeds, d, strict=True))
            pw = welch_p([value(r, k) for r in by_mix[a]], [value(r, k) for r in by_mix[b]])
            lines.append(f"| {a} | {b} | {k} | {per} | {mean:+.4f} ± {_fmt(std)} | {_fmt_p(paired_p(d))} | "
                         f"{_fmt_p(pw)} | {beyond} |")
    means = mean_by_mix(runs, order)
    lines += ["", f"## Ranking (mean bits per byte over the evaluation texts: {texts}; best first)", ""]
    lines += [f"{i}. {m}: {_fmt(means[m])}" for i, m in enumerate(ranking(runs, order), 1)]
    lines += ["", "Plots: `loss.png` (mean bits per byte on the evaluation texts during training), `bpb.png` "
              "(final bits per byte per text).", ""]
    return "\n".join(lines)


def write_results(runs: list[dict[str, Any]], order: list[str], out: str | Path) -> None:
    """results.csv, results.md, loss.png, bpb.png in ``out`` (a local folder or a URL)."""
    from train_smoke.ablate_plots import plot_bpb, plot_loss

    out = str(out)
    rows = results_rows(runs)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(os.path.join(out, "results.csv"), buf.getvalue())
    write_text_atomic(os.path.join(out, "results.md"), results_markdown(runs, order))
    for name, plot in (("loss.png", plot_loss), ("bpb.png", plot_bpb)):
        with atomic_path(os.path.join(out, name)) as tmp:
            plot(runs, order, tmp)
