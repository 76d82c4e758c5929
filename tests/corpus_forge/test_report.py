"""The run report follows the registry: a step registered here, and nowhere in report.py, is in the funnel and
has its own section; steps that write no documents are left out of the funnel and print their own summary;
the ablation section is built from results.csv."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import cloudpickle
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpus_forge import registry
from corpus_forge.progress import print_summary
from corpus_forge.report import write_report
from corpus_forge.runner import run_stage
from corpus_forge.schema import with_reason
from corpus_forge.sections import Section, csv_table, table
from corpus_forge.stage import DocumentStage, PartitionResult, Stage, parquet_partitions
from corpus_forge.stats import Counters
from pipelines.extract import ExtractStage
from train_smoke.ablate_report import OWN_VAL, section

MIN_CHARS = 2000
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import a test module


class ToyStage(DocumentStage):
    """Drops documents shorter than MIN_CHARS characters (reason ``toy_short``)."""

    name = "toy"
    help = "a step that exists only in this test"

    def process_table(self, table: pa.Table, ctx=None) -> PartitionResult:
        long = pc.greater_equal(pc.utf8_length(table["text"]), MIN_CHARS)
        c = Counters(documents_in=table.num_rows)
        c.remove("toy_short", table.num_rows - pc.sum(long).as_py())
        return PartitionResult(table.filter(long), with_reason(table.filter(pc.invert(long)), "toy_short"), c)

    @staticmethod
    def report_section(step_dir: str, stats: dict) -> Section:
        return Section("Toy section", table(["kept by the toy"], [[stats["documents_out"]]]))


class ToyCountStage(Stage):
    """Counts characters; writes no documents."""

    name = "toy-count"
    writes_documents = False

    def partitions(self, inputs):
        return parquet_partitions(inputs)

    def process(self, part, ctx=None):
        import pyarrow.parquet as pq

        chars = pc.sum(pc.utf8_length(pq.read_table(part.path, columns=["text"])["text"])).as_py()
        return PartitionResult(None, None, Counters(extra={"characters": chars}))

    @staticmethod
    def print_report(stats: dict) -> None:
        print(f"toy-count: {stats['characters']:,} characters")

    @staticmethod
    def report_section(step_dir: str, stats: dict) -> Section:
        return Section("Characters", f"<p>{stats['characters']:,} characters</p>")


@pytest.fixture
def toy_run(tmp_path, data_dir, dask_client, monkeypatch):
    monkeypatch.setitem(registry.STEPS, "toy", f"{__name__}:ToyStage")
    monkeypatch.setitem(registry.STEPS, "toy-count", f"{__name__}:ToyCountStage")
    run = tmp_path / "run"
    kw = {"client": dask_client, "progress": False}
    ext = run_stage(ExtractStage(), [str(data_dir / "warc" / "warcfile.warc.gz")], str(run / "01-extract"), **kw)
    toy = run_stage(ToyStage(), [str(run / "01-extract")], str(run / "02-toy"), **kw)
    count = run_stage(ToyCountStage(), [str(run / "02-toy")], str(run / "03-toy-count"), **kw)
    write_report(str(run))
    return run, ext, toy, count


def _funnel_rows(html: str) -> list[str]:
    funnel = html.split("<h2>Funnel</h2>", 1)[1].split("<h2>", 1)[0]
    return [row.split("</td>", 1)[0].removeprefix("<td>") for row in funnel.split("<tr>")[2:]]


def test_a_step_registered_in_a_test_is_in_the_funnel_with_its_own_section(toy_run):
    run, ext, toy, count = toy_run
    assert toy["documents_in"] == ext["documents_out"] == 16  # warcfile.warc.gz: see test_extract_real_warcs
    assert 0 < toy["documents_out"] < 16 and toy["removed"] == {"toy_short": 16 - toy["documents_out"]}
    assert toy["writes_documents"] is True and count["writes_documents"] is False
    html = (run / "report.html").read_text()
    assert _funnel_rows(html) == ["01-extract", "02-toy"]  # the step that writes no documents is not in it
    assert f"<h2>Toy section</h2><p class=\"step\">02-toy</p><table><thead><tr><th>kept by the toy</th></tr>" \
           f"</thead><tbody><tr><td class=\"num\">{toy['documents_out']}</td>" in html
    assert f"<h2>Characters</h2><p class=\"step\">03-toy-count</p><p>{count['characters']:,} characters" in html
    assert f"toy_short: {16 - toy['documents_out']}" in html
    md = (run / "report.md").read_text()
    assert f"| 02-toy | 16 | {toy['documents_out']} |" in md and "03-toy-count" not in md


def test_a_stats_json_from_before_the_record_asks_the_registry(toy_run):
    run = toy_run[0]
    for folder in ("02-toy", "03-toy-count"):
        path = run / folder / "stats.json"
        stats = json.loads(path.read_text())
        del stats["writes_documents"]
        path.write_text(json.dumps(stats))
    write_report(str(run))
    assert _funnel_rows((run / "report.html").read_text()) == ["01-extract", "02-toy"]


def test_a_step_without_documents_prints_its_own_summary_not_documents_in_0(toy_run, capsys):
    run, _, toy, count = toy_run
    print_summary(count, str(run / "03-toy-count"), ToyCountStage)
    out, err = capsys.readouterr()
    assert f"toy-count: {count['characters']:,} characters" in out
    assert "documents in" not in err and "documents out" not in err and "toy-count" in err
    print_summary(toy, str(run / "02-toy"), ToyStage)
    assert "documents in" in capsys.readouterr().err


def _results_csv(path: Path, rows: list[dict]) -> str:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_ablation_section_ranks_by_bpb_mean_from_results_csv_and_labels_val_loss(tmp_path):
    """Mix b has the lower own val_loss but the higher bpb_mean: the table ranks a first, by bpb_mean."""
    runs = [{"mix": m, "seed": s, "bpb_mean": bpb + 0.01 * s, "bpb_wiki": bpb - 0.1, "bpb_book": bpb + 0.1,
             "val_loss": loss, "val_bpb": bpb, "tokens_seen": 1000, "share_web": 0.7 if m == "a" else 1.0}
            for m, bpb, loss in (("b", 2.5, 3.0), ("a", 2.0, 4.0)) for s in (0, 1)]
    _results_csv(tmp_path / "results.csv", runs)
    sec = section(str(tmp_path), {})
    assert sec is not None and sec.title == "Ablation"
    summary = sec.html.split("<table>")[1]
    assert summary.index("<td>a</td>") < summary.index("<td>b</td>")
    assert "ranked by bpb_mean" in summary and f"<th>{OWN_VAL}</th>" in summary
    assert "2.0050 ± 0.0071" in summary  # a's bpb_mean over seeds 0 and 1: 2.00, 2.01
    assert "70.0%" in summary and "[loss.png]" not in sec.html
    # without bpb_mean (an older results.csv), the ranking falls back to val_bpb
    _results_csv(tmp_path / "results.csv", [{k: v for k, v in r.items() if k != "bpb_mean"} for r in runs])
    assert "ranked by val_bpb" in section(str(tmp_path), {}).html


def test_csv_table_keeps_the_columns_asked_for_and_escapes(tmp_path):
    path = _results_csv(tmp_path / "proxies.csv", [{"weight_web": "0.25", "bpb_x": "1.5", "note": "<b>"}])
    html = csv_table(path, ["bpb_x", "weight_web", "missing"], labels={"bpb_x": "bits/byte"})
    assert html == ("<table><thead><tr><th>bits/byte</th><th>weight_web</th></tr></thead>"
                    "<tbody><tr><td>1.5000</td><td>0.2500</td></tr></tbody></table>")
    assert "&lt;b&gt;" in csv_table(path)
