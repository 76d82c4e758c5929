"""The search's section of ``report.html`` (the ``report_section`` hook of :mod:`corpus_forge.sections`): the
verdict, the found weights beside the obvious mixes, the fit on held-out proxies, the verification, the plots."""

from __future__ import annotations

import os
from typing import Any


def section(step_dir: str, stats: dict[str, Any]) -> Any:
    """A ``corpus_forge.sections.Section``, or None before the search has finished."""
    from corpus_forge.sections import Section, file_img, fmt, paragraph, table

    s = stats.get("search")
    if not s:
        return None
    names = list(s["found"])
    weights = table(["source", "found", "natural", "equal"],
                    [[n, fmt(s["found"][n], 3), fmt(s["natural"][n], 3), fmt(s["equal"][n], 3)] for n in names],
                    "weights (shares of the trained tokens)")
    fit = table(["target", "model", "held-out Spearman", "held-out MAE (bpb)"],
                [[f["target"], f["model"] + (" (chosen)" if f["chosen"] else " (baseline)" if f["model"] == "mean"
                                             else ""), fmt(f["spearman"], 3),
                  fmt(f["mae"])] for f in s["fit"]], f"regression on {s['proxies']} proxies, 5 folds held out")
    seeds = sorted({k for v in s["verification"] for k in v["diffs"]}, key=int)
    verification = table(
        ["found vs", "metric", *(f"seed {k}" for k in seeds), "mean", "paired p", "better"],
        [[v["vs"], v["metric"], *(f"{v['diffs'][k]:+.4f}" for k in seeds), f"{v['mean']:+.4f}",
          fmt(v["paired_p"], 3), "yes" if v["better"] else "no"] for v in s["verification"]],
        "found − other per seed (negative: found is better)")
    warn = "" if s.get("fit_informative", True) else paragraph(
        "The fit is not informative (it does not beat the proxies' mean on held-out proxies): the found mix is "
        "close to a random draw; run more proxies.")
    body = (paragraph(s["headline"]) + warn + weights + fit + verification
            + file_img(os.path.join(step_dir, "weights.png"), "found weights")
            + file_img(os.path.join(step_dir, "fit.png"), "held-out fit")
            + paragraph("Details: search.md, proxies.csv, mix.yaml (ready for pack) and verify/ in this folder."))
    return Section("Mixture search", body)
