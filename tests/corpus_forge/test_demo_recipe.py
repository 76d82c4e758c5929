"""The shipped demo recipe, end to end under pytest: every step accounts for every document, steps chain by
reference, the report is written, and a rerun finds every step complete."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from demo_run import RECIPE, run_demo

from corpus_forge.recipe import build_steps, load_recipe


def test_every_step_accounts_for_every_document(demo_run):
    out, stats = demo_run
    steps = build_steps(load_recipe(str(RECIPE)), str(out), "webtext.yaml")
    assert [s["stage"] for s in stats] == [s.name for s in steps]
    for step, s in zip(steps, stats, strict=True):
        assert s["documents_in"] == s["documents_out"] + sum(s["removed"].values()), step.id
        assert s["partitions_failed"] == 0 and (Path(step.out) / "_SUCCESS").exists(), step.id
        assert json.loads((Path(step.out) / "stats.json").read_text())["documents_out"] == s["documents_out"]


def test_document_steps_chain_and_the_karma_table_is_read_by_extract(demo_run):
    out, stats = demo_run
    by_stage = {s["stage"]: s for s in stats}
    assert by_stage["karma"]["urls_kept"] > 0  # built from the real 2005 dumps
    extract = next(out.glob("*-extract"))
    cols = pq.read_schema(next(extract.glob("part-*.parquet"))).names
    assert "karma" in cols  # the pushdown filter annotated every document from the table built before it
    doc_steps = [s for s in stats if s["stage"] in ("extract", "filter", "dedup", "decontaminate")]
    for before, after in itertools.pairwise(doc_steps):
        assert after["documents_in"] == before["documents_out"]
    assert doc_steps[-1]["documents_out"] > 0


def test_tokenizer_mixes_and_the_smoke_ablation(demo_run):
    """WARC to ablation table: the tokenizer, a raw and a curated mix that verify, and 2 mixes x 2 seeds."""
    import csv

    from tokenize_bpe.shards_cli import verify

    out, stats = demo_run
    by_stage = {s["stage"]: s for s in stats}
    bpe = next(out.glob("*-bpe"))
    assert (bpe / "tokenizer.json").exists() and (bpe / "tokenizer.tiktoken").exists()
    assert by_stage["bpe"]["vocab_size"] == 4096
    pack = next(out.glob("*-pack"))
    for mix in ("raw", "curated"):
        manifest = json.loads((pack / mix / "manifest.json").read_text())
        assert manifest["train_tokens"] > 0 and manifest["shards"]
    assert verify(str(pack)) == []  # headers, counts, .idx offsets and sha256s match the manifests
    ablate = next(out.glob("*-ablate"))
    rows = list(csv.DictReader((ablate / "results.csv").open()))
    runs = sorted((r["mix"], r["seed"]) for r in rows)
    assert runs == [("curated", "0"), ("curated", "1"), ("raw", "0"), ("raw", "1")]
    assert all(float(r["val_bpb"]) > 0 for r in rows)
    assert (ablate / "loss.png").exists() and (ablate / "bpb.png").exists()


def test_report_and_rerun_is_a_no_op(demo_run, dask_client):
    out, stats = demo_run
    assert (out / "report.html").stat().st_size > 1000 and (out / "funnel.png").exists()
    marks = {p: p.stat().st_mtime_ns for p in out.glob("*/part-*.parquet")}
    again = run_demo(str(out), dask_client)
    assert [s["documents_out"] for s in again] == [s["documents_out"] for s in stats]
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/part-*.parquet")} == marks


def test_report_loads_in_a_real_browser_with_every_image_rendered(demo_run):
    """Headless Chromium (Debian's package) opens report.html: no console error, every image decoded."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) drives the browser")
    if chromium is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run installs it)")
    out, _ = demo_run
    html = (out / "report.html").read_text()
    assert 'src="funnel.png"' not in html and html.count("data:image/png;base64,") >= 3  # self-contained
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").as_uri())
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])")
        sections = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
        page.screenshot(path=str(out / "report-screenshot.png"), full_page=True)
        browser.close()
    assert errors == []
    assert images and all(done and width > 0 for done, width, _ in images), images
    assert {"Funnel", "Removals per reason", "Duplicate clusters", "Contamination", "Tokenizer",
            "Tokens per source per mix", "Ablation"} <= set(sections)


def test_report_sections_come_from_the_steps_and_the_ablation_from_results_csv(demo_run):
    """The mixes of the Ablation section are in the order of their mean bpb_mean in results.csv (recomputed
    here), in HTML tables with the plots embedded, not Markdown links; the funnel has the document steps only."""
    import csv
    import statistics

    out, _ = demo_run
    page = (out / "report.html").read_text()
    ablation = page.split("<h2>Ablation</h2>", 1)[1]
    rows = list(csv.DictReader((next(out.glob("*-ablate")) / "results.csv").open()))
    means = {m: statistics.fmean(float(r["bpb_mean"]) for r in rows if r["mix"] == m) for m in {r["mix"] for r in rows}}
    ranked = sorted(means, key=means.get)
    summary = ablation.split("<table>", 2)[1]
    assert [summary.index(f"<td>{m}</td>") for m in ranked] == sorted(summary.index(f"<td>{m}</td>") for m in ranked)
    assert f"{means[ranked[0]]:.4f}" in summary and "val_loss (own val split" in summary
    assert "[loss.png]" not in page and ablation.count('<img alt="ablation') == 2
    funnel = page.split("<h2>Funnel</h2>", 1)[1].split("<h2>", 1)[0]
    assert "-extract</td>" in funnel and "-bpe</td>" not in funnel and "-karma</td>" not in funnel
    for title in ("Karma table", "Duplicate clusters", "Contamination", "Tokenizer", "Tokens per source per mix"):
        assert f"<h2>{title}</h2>" in page
