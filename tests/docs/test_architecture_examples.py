"""The worked examples of docs/architecture.md ("Adding a filter", "Adding a step", "Adding an output format") run
as they stand: each section's Python blocks are executed, in order, as one module, and what they define is checked
on real text (20 CCNet web documents, tests/data/text/cc_en_head-*.jsonl.gz), against counts made here another
way."""

from __future__ import annotations

import gzip
import importlib
import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus_forge import registry

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
CCNET = sorted((REPO / "tests" / "data" / "text").glob("cc_en_head-*.jsonl.gz"))


def section_code(heading: str) -> str:
    text = DOC.read_text()
    body = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert blocks, f"no python block under '## {heading}'"
    return "\n".join(blocks)


def run_section(heading: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                client: Any = None) -> types.ModuleType:
    """The section's code as a module file, imported here (and on the Dask workers, by ``upload_file``)."""
    name = "docs_example_" + re.sub(r"\W+", "_", heading.lower())
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.py"
    path.write_text(f"# {DOC}, '## {heading}'\n" + section_code(heading))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    if client is not None:
        client.upload_file(str(path))
    return importlib.import_module(name)


def ccnet_documents() -> list[dict]:
    rows = []
    for path in CCNET:
        for line in gzip.open(path, "rt", encoding="utf-8"):
            d = json.loads(line)
            rows.append({"id": d["id"], "text": d["text"], "url": d["id"], "source": "ccnet"})
    return rows


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory) -> Path:
    """The CCNet documents as a step's output folder: one Parquet part per source file."""
    out = tmp_path_factory.mktemp("ccnet")
    rows = ccnet_documents()
    for i, path in enumerate(CCNET):
        part = [r for r in rows if r in rows[10 * i:10 * (i + 1)]]
        pq.write_table(pa.Table.from_pylist(part), out / f"part-{path.name.split('.')[0]}.parquet")
    return out


def test_the_doc_has_the_three_worked_examples_and_links_that_resolve() -> None:
    text = DOC.read_text()
    for heading in ("Adding a filter", "Adding a step", "Adding an output format"):
        assert f"\n## {heading}\n" in text and section_code(heading)
    for link in re.findall(r"\]\(\.\./([^)#]+)\)", text):
        assert (REPO / link).exists(), link


def test_adding_a_filter(docs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex = run_section("Adding a filter", tmp_path, monkeypatch)
    table = pq.read_table(sorted(docs_dir.glob("*.parquet"))[0])
    short = [len(t.split()) < 100 for t in table["text"].to_pylist()]
    res = ex.short.filter_table(table)
    assert res.keep.tolist() == [not s for s in short] and 0 < sum(short) < len(short)
    assert res.reasons == ["min_words:too_short" if s else None for s in short]
    out = ex.stage.process_table(table)
    assert out.kept.num_rows == len(short) - sum(short)
    assert out.counters.removed == {"min_words:too_short": sum(short)}
    with pytest.raises(ValueError, match="min_wrds: unknown key"):
        ex.build_filter({"type": "min_words", "min_wrds": 3})


def test_adding_a_step(docs_dir: Path, tmp_path: Path, dask_client, monkeypatch) -> None:
    from corpus_forge.report import write_report

    ex = run_section("Adding a step", tmp_path / "code", monkeypatch, dask_client)
    monkeypatch.setitem(registry.STEPS, "sample", f"{ex.__name__}:SampleStage")
    run = tmp_path / "run"
    stats = ex.run_sample([str(docs_dir)], str(run / "01-sample"), dask_client, rate=0.5)
    import xxhash

    ids = [r["id"] for r in ccnet_documents()]
    expected = {i for i in ids if xxhash.xxh3_64_intdigest(i.encode(), seed=0) < 2**63}
    kept = {i for p in (run / "01-sample").glob("part-*.parquet") for i in pq.read_table(p)["id"].to_pylist()}
    assert kept == expected and 0 < len(kept) < 20
    assert stats["documents_in"] == 20 and stats["removed"] == {"not_sampled": 20 - len(kept)}
    assert ex.run_sample([str(docs_dir)], str(run / "01-sample"), dask_client, rate=0.5) == stats  # complete
    write_report(str(run))
    page = (run / "report.html").read_text()
    assert "<h2>Sample</h2>" in page and f"{len(kept) / 20:.1%}" in page and "01-sample</td>" in page
    with pytest.raises(ValueError, match="rate"):
        ex.SampleStage.from_options({"rate": 2})


def test_adding_an_output_format(docs_dir: Path, tmp_path: Path, dask_client, monkeypatch) -> None:
    ex = run_section("Adding an output format", tmp_path / "code", monkeypatch, dask_client)
    files = ex.export([str(docs_dir)], str(tmp_path / "jsonl"), dask_client)
    assert len(files) == 2
    rows = [r for f in files for r in ex.read_jsonl(f)]
    assert sorted(rows, key=lambda r: r["id"]) == sorted(ccnet_documents(), key=lambda r: r["id"])
    stats = json.loads((tmp_path / "jsonl" / "stats.json").read_text())
    assert stats["documents_in"] == stats["documents_out"] == 20 and stats["writes_documents"] is False
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"id": "x"}\n'))
    with pytest.raises(ValueError, match=r"bad\.jsonl\.gz:1: not a document line"):
        ex.read_jsonl(str(bad))
