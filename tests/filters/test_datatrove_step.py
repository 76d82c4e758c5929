"""datatrove steps we do not reimplement, run as our filters through one adapter (filters/datatrove_step.py):
a regex filter, the PII formatter and the fastText classifier filter on our shipped model."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet
import pytest

from corpus_forge.config import ConfigError
from pipelines.filter import FilterStage

MODEL = Path(__file__).parents[2] / "filters" / "models" / "quality_demo.ftz"


@pytest.fixture(scope="module")
def table(data_dir):
    """Real pages: the filter fixtures, the Dolma CCNet documents and the non-Latin pages (a Korean news page
    ends with its columnist's email address)."""
    rows = []
    for path in [data_dir / "filters" / "langid_pages.jsonl.gz", data_dir / "filters" / "heuristics_docs.jsonl.gz",
                 data_dir / "text" / "cc_en_head-0091.jsonl.gz", data_dir / "text" / "cc_en_head-0174.jsonl.gz",
                 data_dir / "text" / "nonlatin.jsonl"]:
        raw = path.read_bytes()
        lines = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8").splitlines()
        rows += [json.loads(line) for line in lines if line.strip()]
    n = len(rows)
    return pa.table({"id": [f"doc{i:03d}" for i in range(n)], "text": [r["text"] for r in rows],
                     "url": [r.get("url") for r in rows], "source": ["test"] * n})


def _run(table: pa.Table, *specs: dict):
    res = FilterStage.from_options({"filters": list(specs)}).process_table(table)
    res.counters.check()
    assert res.counters.documents_in == table.num_rows == res.kept.num_rows + res.removed.num_rows
    return res


def test_regex_filter_drops_exactly_the_matching_documents_under_its_own_reason(table):
    pattern = r"(?i)\bcopyright\b"
    res = _run(table, {"datatrove": "datatrove.pipeline.filters.RegexFilter", "regex_exp": pattern})
    matching = {i for i, t in zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True)
                if re.search(pattern, t)}
    assert matching and set(res.removed["id"].to_pylist()) == matching
    assert res.counters.removed == {"datatrove:RegexFilter:dropped": len(matching)}


def test_pii_formatter_rewrites_the_text_and_later_filters_see_it(table):
    from datatrove.pipeline.formatters import PIIFormatter

    email = "thekian1@entermedia.co.kr"
    res = _run(table, {"datatrove": "datatrove.pipeline.formatters.PIIFormatter"},
               {"datatrove": "datatrove.pipeline.filters.RegexFilter", "regex_exp": re.escape(email)})
    assert res.removed.num_rows == 0  # the address was gone before the regex filter looked for it
    fmt = PIIFormatter()
    before = dict(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    after = dict(zip(res.kept["id"].to_pylist(), res.kept["text"].to_pylist(), strict=True))
    assert after == {i: fmt.format(t) for i, t in before.items()}
    assert sum(after[i] != before[i] for i in before) >= 1 and not any(email in t for t in after.values())


def test_fasttext_filter_on_the_shipped_model_keeps_by_score_and_its_labels_become_columns(table):
    res = _run(table, {"datatrove": "datatrove.pipeline.filters.FastTextClassifierFilter", "model_url": str(MODEL),
                       "keep_labels": ["positive", 0.5]})
    both = pa.concat_tables([res.kept, res.removed.drop(["reason"])], promote_options="permissive")
    pos = np.asarray(both["__label__positive"].to_pylist(), float)
    neg = np.asarray(both["__label__negative"].to_pylist(), float)
    assert np.allclose(pos + neg, 1.0, atol=1e-3)  # the model's two-label softmax, as datatrove stored it
    kept = np.arange(both.num_rows) < res.kept.num_rows
    assert np.array_equal(kept, pos >= 0.5) and 0 < kept.sum() < both.num_rows
    assert res.counters.removed == {"datatrove:FastTextClassifierFilter:dropped": int((~kept).sum())}


def test_datatroves_own_reasons_are_kept(table):
    res = _run(table, {"datatrove": "datatrove.pipeline.filters.C4ParagraphFilter"})
    short = [i for i, t in zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True)
             if sum(len(line) >= 200 for line in t.split("\n")) < 3]  # mC4: three lines of 200+ characters
    assert short and res.counters.removed == {"datatrove:C4ParagraphFilter:< 3 paragraphs": len(short)}


@pytest.mark.parametrize(("spec", "message"), [
    ({"datatrove": "datatrove.pipeline.filters.NoSuchFilter"}, "filter.filters[0].datatrove"),
    ({"datatrove": "json.JSONDecoder"}, "not a datatrove PipelineStep"),
    ({"datatrove": "datatrove.pipeline.filters.RegexFilter", "regexp": "x"}, "RegexFilter"),
    ({"datatrove": "datatrove.pipeline.filters.RegexFilter", "type": "c4"}, "not both"),
])
def test_a_bad_datatrove_spec_is_one_error_naming_it(spec, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        FilterStage.from_options({"filters": [spec]})


def test_a_document_the_fasttext_filter_drops_keeps_its_text_in_removed(table):
    res = _run(table, {"datatrove": "datatrove.pipeline.filters.FastTextClassifierFilter", "model_url": str(MODEL),
                       "keep_labels": ["positive", 0.5]})
    before = dict(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    assert res.removed.num_rows and all(before[i] == t for i, t in zip(res.removed["id"].to_pylist(),
                                                                       res.removed["text"].to_pylist(), strict=True))


def test_a_recipe_with_datatrove_steps_runs_on_the_demo_samples_and_names_their_reasons(tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).parents[2]
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "corpus_forge.cli", "run", "pipelines/recipes/datatrove.yaml",
                        "--out", str(out), "--workers", "1", "--no-progress"], cwd=repo, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads((out / "02-filter" / "stats.json").read_text())
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["removed"].values())
    named = {k.split(":")[1] for k in stats["removed"] if k.startswith("datatrove:")}
    assert named == {"C4ParagraphFilter", "FastTextClassifierFilter"}
    kept = pa.concat_tables([pa.parquet.read_table(p) for p in sorted((out / "02-filter").glob("part-*.parquet"))])
    assert {"__label__positive", "__label__negative"} <= set(kept.column_names)
    assert min(kept["__label__positive"].to_pylist()) >= 0.5
