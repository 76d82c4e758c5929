"""The decontaminate stage through the runner and the command line: outputs, stats.json report, reruns."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest
from decontam_helpers import DATA, plant, write_parts

from corpus_forge.config import ConfigError
from filters.support.benchmarks import load_benchmark
from pipelines.decontaminate import BENCH_COLUMN, DecontaminateStage


@pytest.fixture(scope="module")
def client(dask_client):
    """The session's LocalCluster (2 worker processes, tests/conftest.py)."""
    return dask_client


@pytest.fixture
def corpus(tmp_path, english_pages, pages):
    gsm = load_benchmark("gsm8k").items
    he = load_benchmark("humaneval").items
    docs = [
        plant(english_pages[0], gsm[4].texts[0], 2000)[0],  # excised, kept
        plant(english_pages[1], gsm[4].texts[0], 2500)[0],  # same item, another page
        plant(english_pages[2], he[9].texts[1], 1500)[0],  # excised, kept
        f"Solutions.\n\n{gsm[8].texts[1]}\n\nThanks for reading.",  # nothing left: removed
    ] + [p["text"] for p in pages[:20]]
    return write_parts(tmp_path, docs, per_file=6), len(docs)


def test_run_stage_writes_documents_and_the_contamination_report(tmp_path, corpus, client):
    from corpus_forge.runner import run_stage

    inputs, n = corpus
    out = tmp_path / "out"
    stats = run_stage(DecontaminateStage(), inputs, str(out), client=client, keep_removed=True, progress=False)
    assert stats["documents_in"] == n == stats["documents_out"] + sum(stats["removed"].values())
    assert stats["removed"] == {"contaminated_nothing_left": 1}
    assert stats["partitions"] == 4 and stats["partitions_failed"] == 0
    report = stats["contamination"]
    assert {k: report["gsm8k"][k] for k in ("items", "items_found", "documents_touched")} == {
        "items": 1319, "items_found": 2, "documents_touched": 3}
    assert report["humaneval"]["items_found"] == 1 and report["humaneval"]["documents_touched"] == 1
    assert report["hellaswag"]["items_found"] == 0
    assert stats["decontamination"]["excised_documents"] == 3  # excised but kept: counted as documents_out
    assert stats["ngram_index"]["ngrams"] > 600_000 and stats["ngram_index"]["n"] == 13
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk["contamination"] == report
    assert (out / "_SUCCESS").exists()
    kept = pq.read_table(sorted(str(p) for p in out.glob("part-*.parquet")))
    assert kept.num_rows == n - 1
    assert sum(1 for b in kept.column(BENCH_COLUMN).to_pylist() if b) == 3
    removed = pq.read_table(str(out / "removed"))
    assert removed.column("reason").to_pylist() == ["contaminated_nothing_left"]
    # rerun: every partition is skipped, same result
    again = run_stage(DecontaminateStage(), inputs, str(out), client=client, progress=False)
    assert again["contamination"] == report and again["documents_out"] == stats["documents_out"]


def test_counting_pass_runs_on_the_cluster(tmp_path, corpus, client):
    from corpus_forge.runner import run_stage

    inputs, _ = corpus
    stats = run_stage(DecontaminateStage(benchmarks=["gsm8k"], max_ngram_docs=1), inputs, str(tmp_path / "o"),
                      client=client, progress=False)
    # gsm8k item 4 is in 2 documents (> 1): ignored; item 8 is in one document: still found
    assert stats["contamination"]["gsm8k"]["items_found"] == 1
    assert stats["contamination"]["gsm8k"]["ngrams_ignored"] > 0


def test_options_are_validated():
    with pytest.raises(ConfigError, match="ngrm: unknown key"):
        DecontaminateStage.from_options({"ngrm": 12})
    with pytest.raises(ConfigError, match="action"):
        DecontaminateStage.from_options({"action": "cut"})
    with pytest.raises(ConfigError, match="listed twice"):
        DecontaminateStage.from_options({"benchmarks": ["gsm8k", "gsm8k"]})
    with pytest.raises(ConfigError, match="not bundled"):
        DecontaminateStage.from_options({"benchmarks": ["openbookqa"]})
    tq = {"name": "tq", "path": str(DATA / "benchmarks" / "truthfulqa_head.csv"), "fields": ["Question"]}
    stage = DecontaminateStage.from_options({"benchmarks": ["gsm8k", tq], "action": "drop"})
    assert [b.name for b in stage.config.benchmarks] == ["gsm8k", "tq"]


def test_command_line(tmp_path, corpus, capsys):
    from corpus_forge.cli import main

    inputs, n = corpus
    out = tmp_path / "cli"
    tq = DATA / "benchmarks" / "truthfulqa_head.csv"
    code = main(["decontaminate", *inputs, "--out", str(out), "--workers", "1", "--no-progress",
                 "--no-bundled", "--benchmark", "gsm8k", "--benchmark", f"truthfulqa={tq}", "--action", "drop"])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert list(stats["contamination"]) == ["gsm8k", "truthfulqa"]
    assert stats["removed"] == {"contaminated": 3}
    assert stats["documents_in"] == n == stats["documents_out"] + 3
    assert main(["decontaminate", *inputs, "--out", str(tmp_path / "x"), "--benchmark", "mmlu"]) == 2
    err = capsys.readouterr().err
    assert "mmlu" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "x" / "stats.json")
