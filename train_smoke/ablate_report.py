"""The ``ablate`` step's section of the run report, built from ``results.csv`` (one row per (mix, seed)).

Mixes are ranked by ``bpb_mean`` (mean bits per byte over the fixed evaluation texts, lower is better), or by
``val_bpb`` for a ``results.csv`` without it. ``val_loss`` is each mix's own validation split, a different text
per mix: shown, labelled so, never ranked on. ``share_<source>`` is the share of tokens trained per source.
The paired differences and p-values stay in ``results.md``; the plots are embedded.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from corpus_forge.io import is_file
from corpus_forge.sections import Section, csv_table, file_img, number, paragraph, read_csv, table

OWN_VAL = "val_loss (own val split: not comparable across mixes)"


def rank_metric(columns: list[str]) -> str:
    return "bpb_mean" if "bpb_mean" in columns else "val_bpb"


def _mean_std(values: list[float | None]) -> str:
    xs = [x for x in values if x is not None]
    if not xs:
        return ""
    sd = f" ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else ""
    return f"{statistics.fmean(xs):.4f}{sd}"


def _share(value: Any) -> str:
    x = number(value)
    return "" if x is None else f"{100 * x:.1f}%"


def mix_table(rows: list[dict[str, str]]) -> tuple[str, list[str]]:
    """Mean ± std over seeds per mix, best first; and the mixes in that order."""
    cols = list(rows[0])
    metric = rank_metric(cols)
    metrics = [metric] + [c for c in cols if c.startswith("bpb_") and c != metric]
    metrics += [c for c in ("val_bpb", "val_loss") if c in cols and c != metric]
    shares = [c for c in cols if c.startswith("share_")]
    by_mix: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_mix.setdefault(r["mix"], []).append(r)
    means = {m: statistics.fmean([x for r in rs if (x := number(r.get(metric))) is not None] or [float("inf")])
             for m, rs in by_mix.items()}
    order = sorted(by_mix, key=lambda m: (means[m], m))
    header = ["rank", "mix", "runs", *[OWN_VAL if c == "val_loss" else c for c in metrics],
              *[f"{c.removeprefix('share_')} share trained" for c in shares]]
    body = [[i, m, len(by_mix[m]), *[_mean_std([number(r.get(c)) for r in by_mix[m]]) for c in metrics],
             *[_share(by_mix[m][0].get(c)) for c in shares]] for i, m in enumerate(order, 1)]
    return table(header, body, caption=f"mean ± std over seeds; ranked by {metric} (lower is better)"), order


def section(step_dir: str, stats: dict[str, Any]) -> Section | None:
    path = os.path.join(step_dir, "results.csv")
    if not is_file(path):
        return None
    rows = read_csv(path)
    if not rows:
        return None
    summary, order = mix_table(rows)
    metric = rank_metric(list(rows[0]))
    texts = [c.removeprefix("bpb_") for c in rows[0] if c.startswith("bpb_") and c != "bpb_mean"]
    lead = paragraph(f"{len({r['mix'] for r in rows})} mixes × {len({r['seed'] for r in rows})} seeds at equal "
                     f"tokens; bits per byte on the evaluation texts ({', '.join(texts) or 'val split'}); "
                     f"best by {metric}: {order[0]}. Paired differences and p-values: results.md.")
    columns = ["mix", "seed", metric, *[f"bpb_{t}" for t in texts], "val_bpb", "val_loss", "tokens_seen",
               *[c for c in rows[0] if c.startswith("share_")]]
    per_run = csv_table(path, columns, labels={"val_loss": OWN_VAL},
                        formats={**{c: _share for c in rows[0] if c.startswith("share_")}, "seed": str},
                        caption="every run (results.csv)",
                        rows=sorted(rows, key=lambda r: (r["mix"], number(r["seed"]) or 0)))
    images = "".join(file_img(os.path.join(step_dir, p), f"ablation {p}") for p in ("loss.png", "bpb.png"))
    return Section("Ablation", lead + summary + per_run + images)


__all__ = ["OWN_VAL", "mix_table", "rank_metric", "section"]
