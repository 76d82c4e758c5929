"""The run report: one self-contained HTML page (plots embedded) over every step folder of a run.

Sections, each shown when the run has the step: the funnel (documents and text bytes per step), removals
per reason with example snippets, language and quality-score histograms, dedup cluster sizes, the
contamination table per benchmark, the tokenizer (bytes per token), tokens per source per mix, and the
ablation table with its plots. Also writes ``funnel.png`` and ``report.md`` (the funnel table) beside it.
Reads through fsspec, so a run on object storage can be reported too.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
from collections import Counter
from typing import Any

import fsspec

from corpus_forge.io import atomic_write, glob, read_json

DOCUMENT_STEPS = ("extract", "filter", "dedup", "decontaminate")


def collect(run_dir: str) -> list[tuple[str, dict[str, Any]]]:
    """(folder name, stats) for each step folder of a run, in order."""
    fs, _, (root,) = fsspec.get_fs_token_paths(run_dir)
    out = []
    for path in sorted(fs.glob(root.rstrip("/") + "/*/stats.json")):
        with fs.open(path, "r") as f:
            out.append((path.rstrip("/").split("/")[-2], json.load(f)))
    return out


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def funnel_figure(stages: list[tuple[str, dict[str, Any]]], title: str = "") -> Any:
    """Documents kept and removed per reason (stacked), and text bytes kept, per document step."""
    plt = _plt()
    names = [n for n, _ in stages]
    kept = [int(s.get("documents_out", 0)) for _, s in stages]
    reasons = sorted({r for _, s in stages for r in s.get("removed", {})})
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(max(9, 2.2 * len(stages) + 5), 4.5),
                                 gridspec_kw={"width_ratios": [3, 2]})
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
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.legend(fontsize=6, loc="upper right")
    mb = [int(s.get("text_bytes_out", 0)) / 1e6 for _, s in stages]
    bx.bar(names, mb, color="#1864ab")
    bx.set_ylabel("text kept (MB, UTF-8)")
    bx.set_title("bytes per step")
    bx.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def _removals(stages: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for name, s in stages:
        examples = s.get("examples") if isinstance(s.get("examples"), dict) else {}
        for reason, n in sorted(s.get("removed", {}).items(), key=lambda kv: -kv[1]):
            ex = (examples.get(reason) or [""])[0]
            rows.append([name, reason, f"{n:,}", str(ex)[:160]])
    return _table(["step", "reason", "documents", "example"], rows) if rows else "<p>nothing removed</p>"


def _column_values(step_dir: str, column: str, limit: int = 200_000) -> list[Any]:
    import pyarrow.parquet as pq

    fs, _, (root,) = fsspec.get_fs_token_paths(step_dir)
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


def _histograms(run_dir: str, stages: list[tuple[str, dict[str, Any]]]) -> str:
    """Language counts and quality scores of the documents of the first filter step that has them."""
    parts = []
    plt = _plt()
    for column, what in (("lang", "language"), ("quality_score", "quality score")):
        for name, s in stages:
            if s.get("stage") not in DOCUMENT_STEPS:
                continue
            values = _column_values(os.path.join(run_dir, name), column)
            if not values:
                continue
            fig, ax = plt.subplots(figsize=(6, 3.2))
            if column == "lang":
                top = Counter(values).most_common(12)
                ax.bar([k for k, _ in top], [v for _, v in top], color="#5f3dc4")
            else:
                ax.hist(values, bins=20, range=(0, 1), color="#e8590c")
            ax.set_title(f"{what} of the documents kept by {name}")
            ax.set_ylabel("documents")
            fig.tight_layout()
            parts.append(_img(_png(fig), f"{what} histogram"))
            break
    return "".join(parts)


def _dedup(stages: list[tuple[str, dict[str, Any]]]) -> str:
    out = []
    plt = _plt()
    for name, s in stages:
        d = s.get("dedup")
        if not isinstance(d, dict) or not d.get("cluster_size_histogram"):
            continue
        hist = d["cluster_size_histogram"]
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.bar(list(hist), list(hist.values()), color="#0b7285")
        ax.set_xlabel("documents per duplicate cluster")
        ax.set_ylabel("clusters")
        ax.set_title(f"{name}: {d.get('clusters', 0):,} clusters, largest {d.get('largest_cluster', 0):,}")
        fig.tight_layout()
        out.append(_img(_png(fig), "dedup cluster sizes"))
    return "".join(out)


def _contamination(stages: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for name, s in stages:
        for bench, r in (s.get("contamination") or {}).items():
            rows.append([name, bench, f"{r.get('items_found', 0):,}", f"{r.get('items') or 0:,}",
                         f"{r.get('documents_touched', 0):,}"])
    return _table(["step", "benchmark", "test items found", "items", "documents touched"], rows) if rows else ""


def _tokenizer(run_dir: str, stages: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for name, s in stages:
        if s.get("stage") != "bpe":
            continue
        for key, value in s.items():
            if key in ("stage", "removed", "errors", "failed_partitions") or key.startswith("partition"):
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items() if not isinstance(v, (dict, list)))
            elif isinstance(value, list):
                continue
            rows.append([name, key, value])
    return _table(["step", "figure", "value"], rows) if rows else ""


def _mixes(run_dir: str, stages: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for name, s in stages:
        if s.get("stage") != "pack":
            continue
        for path in glob(f"{run_dir.rstrip('/')}/{name}/*/manifest.json"):
            m = read_json(path)
            mix = m.get("mix") or path.rstrip("/").split("/")[-2]
            for src in m.get("sources", []):
                rows.append([mix, src.get("name", ""), f"{int(src.get('train_tokens', 0)):,}",
                             f"{int(src.get('val_tokens', 0)):,}", f"{int(src.get('documents', 0)):,}",
                             src.get("requested_weight", ""), src.get("achieved_weight", ""), src.get("epochs", "")])
            if m.get("stopped_short"):
                rows.append([mix, "(stopped short)", "", "", "", "", "", m.get("note", "")])
    header = ["mix", "source", "train tokens", "val tokens", "documents", "weight asked", "weight got", "epochs"]
    return _table(header, rows) if rows else ""


def _ablation(run_dir: str, stages: list[tuple[str, dict[str, Any]]]) -> str:
    fs, _, (root,) = fsspec.get_fs_token_paths(run_dir)
    out = []
    for name, s in stages:
        if s.get("stage") != "ablate":
            continue
        base = f"{root.rstrip('/')}/{name}"
        md = f"{base}/results.md"
        if fs.exists(md):
            with fs.open(md, "r") as f:
                out.append(markdown_html(f.read()))
        for png in ("loss.png", "bpb.png"):
            if fs.exists(f"{base}/{png}"):
                with fs.open(f"{base}/{png}", "rb") as f:
                    out.append(_img(f.read(), f"{name} {png}"))
    return "".join(out)


def _inline(text: str) -> str:
    """Escape, then ``code`` and *emphasis* (all results.md uses)."""
    import re

    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    return re.sub(r"\*([^*]+)\*", r"<i>\1</i>", t)


def markdown_html(md: str) -> str:
    """The small Markdown ``ablate`` writes (headings, pipe tables, lists, paragraphs) as HTML."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(set(c) <= set("-: ") for c in cells):
                    rows.append(cells)
                i += 1
            head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) if rows else ""
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{_inline(line.lstrip('0123456789. -'))}</p>")
        i += 1
    return "".join(out)


def _notes(s: dict[str, Any]) -> str:
    """What a step did besides dropping documents (excisions, clusters, pushdown)."""
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


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px}td,th{border:1px solid #ccc;padding:4px 8px;"
         "font-size:13px}table{border-collapse:collapse;margin:1em 0}img{max-width:100%;display:block;"
         "margin:1em 0}pre{background:#f6f8fa;padding:1em;overflow:auto}")


def write_report(run_dir: str, title: str = "corpus-forge run") -> str:
    """Write ``report.html`` (self-contained), ``funnel.png`` and ``report.md`` into ``run_dir``."""
    stages = collect(run_dir)
    if not stages:
        raise FileNotFoundError(f"{run_dir}: no step folders with stats.json")
    docs = [(n, s) for n, s in stages if s.get("stage") in DOCUMENT_STEPS]
    funnel = _png(funnel_figure(docs or stages, title))
    md = [f"# {title}", "", "![funnel](funnel.png)", "",
          "| step | in | out | kept % | seconds | removed (reason: count) |", "|---|---:|---:|---:|---:|---|"]
    rows = []
    for name, s in stages:
        n_in, n_out = int(s.get("documents_in", 0)), int(s.get("documents_out", 0))
        pct = f"{100 * n_out / n_in:.1f}" if n_in else "-"
        rem = ", ".join(f"{r}: {c:,}" for r, c in sorted(s.get("removed", {}).items(), key=lambda kv: -kv[1]))
        notes = _notes(s)
        if notes:
            rem = f"{rem}; {notes}" if rem else notes
        md.append(f"| {name} | {n_in:,} | {n_out:,} | {pct} | {s.get('seconds', '')} | {rem} |")
        rows.append([name, f"{n_in:,}", f"{n_out:,}", pct, s.get("seconds", ""), rem])
    sections = [
        ("Funnel", _img(funnel, "document funnel") + _table(
            ["step", "in", "out", "kept %", "seconds", "removed (reason: count)"], rows)),
        ("Removals per reason", _removals(stages)),
        ("Languages and quality scores", _histograms(run_dir, stages)),
        ("Duplicate clusters", _dedup(stages)),
        ("Contamination", _contamination(stages)),
        ("Tokenizer", _tokenizer(run_dir, stages)),
        ("Tokens per source per mix", _mixes(run_dir, stages)),
        ("Ablation", _ablation(run_dir, stages)),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections if content)
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    for name, data in (("funnel.png", funnel), ("report.md", ("\n".join(md) + "\n").encode()),
                       ("report.html", page.encode())):
        with atomic_write(f"{run_dir.rstrip('/')}/{name}") as f:
            f.write(data)
    return os.path.join(run_dir, "report.html")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="(re)write a run's report: one self-contained page over every step")
    p.add_argument("run_dir", help="a `corpus-forge run --out` directory")
    p.add_argument("--title", default="corpus-forge run")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    print(write_report(args.run_dir, args.title))
    return 0
