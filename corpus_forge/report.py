"""The run report: one self-contained HTML page (plots embedded) over every step folder of a run.

The page follows the step registry, not a list of its own. Every step folder with a ``stats.json`` is read in
run order; the steps that write documents (``writes_documents`` in their ``stats.json``, which the runner
records) make the funnel (documents and text bytes per step), the removals per reason with example snippets,
and the language and quality-score histograms of their documents. Then each step adds its own section through
its :meth:`corpus_forge.stage.Stage.report_section` hook (dedup clusters, contamination, the tokenizer, tokens
per mix, the ablation table and plots, ...), built with :mod:`corpus_forge.sections`. Also writes
``funnel.png`` and ``report.md`` (the funnel table) beside it. Reads through fsspec, so a run on object
storage can be reported too.
"""

from __future__ import annotations

import argparse
import html
import os
from collections import Counter
from typing import Any

from corpus_forge import registry
from corpus_forge.io import atomic_write, glob, read_json, url_to_fs
from corpus_forge.sections import Section, img, plt, png, table


def collect(run_dir: str) -> list[tuple[str, dict[str, Any]]]:
    """(folder name, stats) for each step folder of a run, in order."""
    return [(path.rstrip("/").split("/")[-2], read_json(path))
            for path in sorted(glob(f"{run_dir.rstrip('/')}/*/stats.json"))]


def step_class(stats: dict[str, Any]) -> Any:
    """The registered step class that wrote ``stats`` (None when it is not registered or not importable)."""
    try:
        return registry.step_class(str(stats.get("stage")))
    except (KeyError, ImportError):
        return None


def writes_documents(stats: dict[str, Any]) -> bool:
    """As the runner recorded it; for a ``stats.json`` from before that record, as the step class says."""
    if "writes_documents" in stats:
        return bool(stats["writes_documents"])
    cls = step_class(stats)
    return bool(cls.writes_documents) if cls is not None else False


def funnel_figure(stages: list[tuple[str, dict[str, Any]]], title: str = "") -> Any:
    """Documents kept and removed per reason (stacked), and text bytes kept, per document step."""
    pyplot = plt()
    names = [n for n, _ in stages]
    kept = [int(s.get("documents_out", 0)) for _, s in stages]
    reasons = sorted({r for _, s in stages for r in s.get("removed", {})})
    fig, (ax, bx) = pyplot.subplots(1, 2, figsize=(max(9, 2.2 * len(stages) + 5), 4.5),
                                    gridspec_kw={"width_ratios": [3, 2]})
    ax.bar(names, kept, color="#2b8a3e", label="kept")
    bottom = list(kept)
    cmap = pyplot.get_cmap("tab20")
    colors = [cmap(i) for i in range(20) if i not in (4, 5)]  # tab20's greens would read as "kept"
    for k, r in enumerate(reasons):
        vals = [int(s.get("removed", {}).get(r, 0)) for _, s in stages]
        ax.bar(names, vals, bottom=bottom, color=colors[k % len(colors)], label=r)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for x, (k, total) in enumerate(zip(kept, bottom, strict=True)):
        ax.text(x, total, f"{k:,} / {total:,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("documents (records for a step that reads WARCs)")
    ax.set_title(title or "document funnel")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.legend(fontsize=6, loc="upper right")
    mb = [int(s.get("text_bytes_out", 0)) / 1e6 for _, s in stages]
    bx.bar(names, mb, color="#1864ab")
    bx.set_ylabel("text kept (MB, UTF-8)")
    bx.set_title("bytes per step")
    bx.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def funnel_rows(stages: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
    """Per document step: folder, in, out, kept %, seconds, removals (reason: count, most first)."""
    rows = []
    for name, s in stages:
        n_in, n_out = int(s.get("documents_in", 0)), int(s.get("documents_out", 0))
        pct = f"{100 * n_out / n_in:.1f}" if n_in else "-"
        rem = ", ".join(f"{r}: {c:,}" for r, c in sorted(s.get("removed", {}).items(), key=lambda kv: -kv[1]))
        rows.append([name, f"{n_in:,}", f"{n_out:,}", pct, s.get("seconds", ""), rem])
    return rows


FUNNEL_HEADER = ["step", "in", "out", "kept %", "seconds", "removed (reason: count)"]


def _removals(stages: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for name, s in stages:
        examples = s.get("examples") if isinstance(s.get("examples"), dict) else {}
        for reason, n in sorted(s.get("removed", {}).items(), key=lambda kv: -kv[1]):
            ex = (examples.get(reason) or [""])[0]
            rows.append([name, reason, f"{n:,}", str(ex)[:160]])
    return table(["step", "reason", "documents", "example"], rows) if rows else "<p>nothing removed</p>"


def _steps(stages: list[tuple[str, dict[str, Any]]]) -> str:
    """Every step of the run: what it is, whether it wrote documents, its time and partitions."""
    rows = [[name, s.get("stage", ""), "yes" if writes_documents(s) else "no", s.get("seconds", ""),
             f"{s.get('partitions_done', '?')}/{s.get('partitions', '?')}"] for name, s in stages]
    return table(["folder", "step", "writes documents", "seconds", "partitions done"], rows)


def _column_values(step_dir: str, column: str, limit: int = 200_000) -> list[Any]:
    import pyarrow.parquet as pq

    fs, root = url_to_fs(step_dir)
    values: list[Any] = []
    for path in sorted(fs.glob(root.rstrip("/") + "/part-*.parquet")):
        with fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            if column not in pf.schema_arrow.names:
                return []
            values.extend(pf.read(columns=[column]).column(column).to_pylist())
        if len(values) >= limit:
            break
    return [v for v in values if v is not None]


def _histograms(run_dir: str, docs: list[tuple[str, dict[str, Any]]]) -> str:
    """Language counts and quality scores of the documents of the first document step that has them."""
    parts = []
    pyplot = plt()
    for column, what in (("lang", "language"), ("quality_score", "quality score")):
        for name, _ in docs:
            values = _column_values(os.path.join(run_dir, name), column)
            if not values:
                continue
            fig, ax = pyplot.subplots(figsize=(6, 3.2))
            if column == "lang":
                top = Counter(values).most_common(12)
                ax.bar([k for k, _ in top], [v for _, v in top], color="#5f3dc4")
            else:
                ax.hist(values, bins=20, range=(0, 1), color="#e8590c")
            ax.set_title(f"{what} of the documents kept by {name}")
            ax.set_ylabel("documents")
            fig.tight_layout()
            parts.append(img(png(fig), f"{what} histogram"))
            break
    return "".join(parts)


def step_sections(run_dir: str, stages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, Section]]:
    """(folder, section) from each step's ``report_section`` hook, in run order."""
    out = []
    for name, s in stages:
        cls = step_class(s)
        section = cls.report_section(os.path.join(run_dir, name), s) if cls is not None else None
        if section is not None and section.html:
            out.append((name, section))
    return out


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px}td,th{border:1px solid #ccc;padding:4px 8px;"
         "font-size:13px}td.num,th.num{text-align:right}table{border-collapse:collapse;margin:1em 0}"
         "caption{caption-side:top;text-align:left;font-size:13px;color:#555;padding:2px 0}"
         "img{max-width:100%;display:block;margin:1em 0}p.step{color:#777;font-size:12px;margin:0}")


def _markdown(title: str, rows: list[list[Any]]) -> str:
    md = [f"# {title}", "", "![funnel](funnel.png)", "", "| " + " | ".join(FUNNEL_HEADER) + " |",
          "|---|---:|---:|---:|---:|---|"]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(md) + "\n"


def write_report(run_dir: str, title: str = "corpus-forge run") -> str:
    """Write ``report.html`` (self-contained), ``funnel.png`` and ``report.md`` into ``run_dir``."""
    stages = collect(run_dir)
    if not stages:
        raise FileNotFoundError(f"{run_dir}: no step folders with stats.json")
    docs = [(n, s) for n, s in stages if writes_documents(s)]
    funnel = png(funnel_figure(docs, title))
    rows = funnel_rows(docs)
    sections = [
        ("Funnel", img(funnel, "document funnel") + table(FUNNEL_HEADER, rows)),
        ("Steps", _steps(stages)),
        ("Removals per reason", _removals(stages)),
        ("Languages and quality scores", _histograms(run_dir, docs)),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections if content)
    body += "".join(f'<h2>{html.escape(sec.title)}</h2><p class="step">{html.escape(name)}</p>{sec.html}'
                    for name, sec in step_sections(run_dir, stages))
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    for name, data in (("funnel.png", funnel), ("report.md", _markdown(title, rows).encode()),
                       ("report.html", page.encode())):
        with atomic_write(f"{run_dir.rstrip('/')}/{name}") as f:
            f.write(data)
    return os.path.join(run_dir, "report.html")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="(re)write a run's report: one self-contained page over every step")
    p.add_argument("run_dir", help="a `corpus-forge run --out` directory")
    p.add_argument("--title", default="corpus-forge run", help="the page's heading")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    print(write_report(args.run_dir, args.title))
    return 0
