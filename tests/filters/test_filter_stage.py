"""The filter stage on real pages: accounting, reasons, added columns, examples, CLI and runner."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus_forge.config import ConfigError
from pipelines.filter import FINEWEB_FILTERS, FilterStage


@pytest.fixture(scope="module")
def table(data_dir):
    rows = []
    for name in ("langid_pages.jsonl.gz", "heuristics_docs.jsonl.gz"):
        with gzip.open(data_dir / "filters" / name, "rt", encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    texts = [r["text"] for r in rows] + ["", "  \n "]
    n = len(texts)
    return pa.table({"id": [f"doc{i:03d}" for i in range(n)], "text": texts,
                     "url": [None] * n, "source": ["test"] * n, "warc_file": ["x.warc.gz"] * n})


def test_every_document_is_kept_or_removed_for_a_reason(table):
    res = FilterStage.from_options({}).process_table(table)
    c = res.counters
    assert c.documents_in == table.num_rows == res.kept.num_rows + res.removed.num_rows
    c.check()
    assert sum(c.removed.values()) == res.removed.num_rows
    assert c.removed["empty_text"] == 2
    assert set(res.removed.column("reason").to_pylist()) == set(c.removed)
    prefixes = {r.split(":")[0] for r in c.removed} - {"empty_text"}
    assert prefixes <= {f["type"] for f in FINEWEB_FILTERS} and "langid" in prefixes


def test_columns_added_and_none_dropped(table):
    res = FilterStage.from_options({}).process_table(table)
    for t in (res.kept, res.removed):
        assert t.column_names[:5] == ["id", "text", "url", "source", "warc_file"]
        assert {"lang", "lang_score"} <= set(t.column_names)
    assert set(res.kept.column("lang").to_pylist()) == {"en"}
    assert min(res.kept.column("lang_score").to_pylist()) > 0.65
    assert res.kept.schema.field("lang_score").type == pa.float32()


def test_examples_are_short_and_at_most_three_per_reason(table):
    ex = FilterStage.from_options({}).process_table(table).counters.extra["examples"]
    assert ex and all(1 <= len(v) <= 3 and all(len(s) <= 200 for s in v) for v in ex.values())


def test_rerun_gives_the_same_documents(table):
    a = FilterStage.from_options({}).process_table(table)
    b = FilterStage.from_options({}).process_table(table)
    assert a.kept.equals(b.kept) and a.removed.equals(b.removed)


def test_quality_classifier_in_the_chain(table):
    stage = FilterStage.from_options({"filters": [{"type": "langid"}, {"type": "quality", "mode": "pareto"}]})
    res = stage.process_table(table)
    res.counters.check()
    s = res.kept.column("quality_score").to_pylist()
    assert all(0 <= x <= 1 for x in s)
    assert set(res.counters.removed) <= {"empty_text", "langid:other_language", "langid:low_score", "quality:pareto"}


def test_batches_do_not_change_decisions(table):
    a = FilterStage.from_options({}).process_table(table)
    b = FilterStage.from_options({"batch_rows": 7}).process_table(table)
    assert a.kept.column("id").to_pylist() == b.kept.column("id").to_pylist()


def test_bad_config_names_the_key():
    with pytest.raises(ConfigError, match="filterz"):
        FilterStage.from_options({"filterz": []})
    with pytest.raises(ConfigError, match="threshhold"):
        FilterStage.from_options({"filters": [{"type": "langid", "threshhold": 0.5}]})
    with pytest.raises(ConfigError, match="type"):
        FilterStage.from_options({"filters": [{"languages": ["en"]}]})


def test_stage_pickles_without_models():
    import pickle

    st = pickle.loads(pickle.dumps(FilterStage()))
    assert len(pickle.dumps(FilterStage())) < 10_000  # the options travel, not the models
    assert len(st.filters) == len(FINEWEB_FILTERS)


def test_cli_through_the_runner(table, tmp_path, dask_client, monkeypatch):
    from corpus_forge import runner
    from corpus_forge.cli import main

    inp = tmp_path / "in"
    inp.mkdir()
    pq.write_table(table.slice(0, 30), inp / "part-a.parquet")
    pq.write_table(table.slice(30), inp / "part-b.parquet")
    cfg = tmp_path / "filters.yaml"
    cfg.write_text("filters:\n  - {type: langid, languages: [en], threshold: 0.65}\n  - {type: gopher_quality}\n")
    real = runner.run_stage
    monkeypatch.setattr(runner, "run_stage", lambda *a, **k: real(*a, **{**k, "client": dask_client}))
    out = tmp_path / "out"
    argv = ["filter", str(inp), "--out", str(out), "--config", str(cfg), "--keep-removed", "--no-progress"]
    assert main(argv) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents_in"] == table.num_rows == stats["documents_out"] + sum(stats["removed"].values())
    assert (out / "_SUCCESS").exists()
    removed = pq.read_table(out / "removed")
    assert removed.num_rows == sum(stats["removed"].values()) and "reason" in removed.column_names
    assert all(len(v) <= 3 for v in stats["examples"].values())
    def kept_ids():
        return [i for f in sorted(out.glob("part-*.parquet")) for i in pq.read_table(f).column("id").to_pylist()]

    kept = kept_ids()
    assert main(argv) == 0  # rerun: finished partitions are skipped, same result
    assert kept_ids() == kept
    assert np.isclose(json.loads((out / "stats.json").read_text())["documents_out"], len(kept))


def test_top_fraction_keeps_the_best_of_the_whole_corpus_for_any_partitioning(table, tmp_path, dask_client):
    """quality top_fraction cuts at one corpus-wide rank (a global phase), not per partition: the same
    documents are kept whether the corpus is one file or split unevenly in three, and exactly the best
    fraction of the documents that reach the filter."""
    from corpus_forge.runner import run_stage

    one, three = tmp_path / "one", tmp_path / "three"
    one.mkdir()
    three.mkdir()
    pq.write_table(table, one / "part-a.parquet")
    n = table.num_rows
    for name, (lo, hi) in zip("abc", [(0, n // 6), (n // 6, n // 2), (n // 2, n)], strict=True):
        pq.write_table(table.slice(lo, hi - lo), three / f"part-{name}.parquet")
    opts = {"filters": [{"type": "langid"}, {"type": "quality", "mode": "top_fraction", "fraction": 0.3}]}
    kept = {}
    for src in (one, three):
        out = tmp_path / f"out-{src.name}"
        stats = run_stage(FilterStage.from_options(opts), [str(src)], str(out), client=dask_client, progress=False)
        ids = sorted(i for f in out.glob("part-*.parquet") for i in pq.read_table(f).column("id").to_pylist())
        kept[src.name] = (ids, stats)
    (ids1, s1), (ids3, s3) = kept["one"], kept["three"]
    assert ids1 == ids3 and s1["removed"] == s3["removed"]
    reached = n - sum(v for r, v in s1["removed"].items() if not r.startswith("quality"))
    assert len(ids1) == round(0.3 * reached) and s1["documents_in"] == n
    # the same decision as scoring everything in one table: the filter alone on the survivors of langid
    alone = FilterStage.from_options(opts).process_table(table)
    assert sorted(alone.kept.column("id").to_pylist()) == ids1
