"""The run report: the document funnel across stages (a PNG plot) and removals per reason."""

from __future__ import annotations

import argparse
import glob
import html
import json
import os
from typing import Any


def collect(run_dir: str) -> list[tuple[str, dict[str, Any]]]:
    """(folder name, stats) for each stage folder of a run, in order."""
    out = []
    for path in sorted(glob.glob(os.path.join(run_dir, "*", "stats.json"))):
        with open(path) as f:
            out.append((os.path.basename(os.path.dirname(path)), json.load(f)))
    return out


def funnel_plot(stages: list[tuple[str, dict[str, Any]]], path: str, title: str = "") -> None:
    """Stacked bars: per stage, documents kept and removed per reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in stages]
    kept = [int(s.get("documents_out", 0)) for _, s in stages]
    reasons = sorted({r for _, s in stages for r in s.get("removed", {})})
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(stages) + 3), 4.5))
    ax.bar(names, kept, color="#2b8a3e", label="kept")
    bottom = list(kept)
    cmap = plt.get_cmap("tab20")
    colors = [cmap(i) for i in range(20) if i not in (4, 5)]  # tab20's greens would read as "kept"
    for k, r in enumerate(reasons):
        vals = [int(s.get("removed", {}).get(r, 0)) for _, s in stages]
        ax.bar(names, vals, bottom=bottom, color=colors[k % len(colors)], label=r)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for x, (k, total) in enumerate(zip(kept, bottom, strict=True)):
        ax.text(x, total, f"{k:,} / {total:,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("documents (records for extract)")
    ax.set_title(title or "document funnel")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _notes(s: dict[str, Any]) -> str:
    """What a stage did besides dropping documents (excisions, clusters, pushdown)."""
    out = []
    if s.get("pushdown_skipped"):
        out.append(f"pushdown skipped extraction of {s['pushdown_skipped']:,} records")
    dedup = s.get("dedup")
    if isinstance(dedup, dict) and dedup.get("clusters") is not None:
        out.append(f"{dedup['clusters']:,} duplicate clusters")
    dec = s.get("decontamination")
    if isinstance(dec, dict) and dec.get("excised_documents"):
        out.append(f"benchmark text excised from {dec['excised_documents']:,} documents "
                   f"({dec.get('excised_chars', 0):,} chars)")
    return "; ".join(out)


def write_report(run_dir: str, title: str = "corpus-forge run") -> str:
    """Write ``funnel.png``, ``report.md`` and ``report.html`` into ``run_dir``; return the HTML path."""
    stages = collect(run_dir)
    if not stages:
        raise FileNotFoundError(f"{run_dir}: no stage folders with stats.json")
    funnel_plot(stages, os.path.join(run_dir, "funnel.png"), title)
    md = [f"# {title}", "", "![funnel](funnel.png)", "",
          "| stage | in | out | kept % | seconds | removed (reason: count) |", "|---|---:|---:|---:|---:|---|"]
    rows_html = []
    for name, s in stages:
        n_in, n_out = int(s.get("documents_in", 0)), int(s.get("documents_out", 0))
        pct = f"{100 * n_out / n_in:.1f}" if n_in else "-"
        rem = ", ".join(f"{r}: {c:,}" for r, c in sorted(s.get("removed", {}).items(), key=lambda kv: -kv[1]))
        notes = _notes(s)
        if notes:
            rem = f"{rem}; {notes}" if rem else notes
        md.append(f"| {name} | {n_in:,} | {n_out:,} | {pct} | {s.get('seconds', '')} | {rem} |")
        rows_html.append(f"<tr><td>{html.escape(name)}</td><td>{n_in:,}</td><td>{n_out:,}</td><td>{pct}</td>"
                         f"<td>{s.get('seconds', '')}</td><td>{html.escape(rem)}</td></tr>")
    with open(os.path.join(run_dir, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}</style></head><body><h1>{html.escape(title)}</h1>
<img src="funnel.png" alt="document funnel"><table><tr><th>stage</th><th>in</th><th>out</th><th>kept %</th>
<th>seconds</th><th>removed (reason: count)</th></tr>{''.join(rows_html)}</table></body></html>"""
    out = os.path.join(run_dir, "report.html")
    with open(out, "w") as f:
        f.write(page)
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="(re)write a run's report: funnel plot and removals per reason")
    p.add_argument("run_dir", help="a `corpus-forge run --out` directory")
    p.add_argument("--title", default="corpus-forge run")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    print(write_report(args.run_dir, args.title))
    return 0
