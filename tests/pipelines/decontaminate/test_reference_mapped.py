"""The Wikipedia reference is memory-mapped from a saved set and broadcast as its path (review row 11): each
worker process maps the node's one copy instead of receiving and holding the keys; decisions are unchanged."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest
from decontam_helpers import doc_table, write_parts

from corpus_forge import cache
from corpus_forge.runner import run_stage
from corpus_forge.stage import RunContext
from filters.support.ngrams import DocWords
from filters.wikipedia import ReferenceNgrams, iter_reference_texts
from pipelines.decontaminate import OVERLAP_COLUMN, REFERENCE_WORK_FILE, DecontaminateStage
from pipelines.wikiref import WikirefStage


@pytest.fixture(scope="module")
def dumps(data_dir) -> list[str]:
    wiki = data_dir / "decontam" / "wiki"
    return [str(wiki / "enwiki-sample.xml.bz2"), str(wiki / "enwiki-table-markup.xml.bz2")]


@pytest.fixture(autouse=True)
def node_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CORPUS_FORGE_CACHE", str(tmp_path / "node-cache"))
    cache.clear()
    yield
    cache.clear()


def documents(dumps: list[str], pages: list[dict]) -> list[str]:
    """Mirrors of real dump articles (with a site's header and footer), and real non-Wikipedia pages."""
    articles = [t for t in iter_reference_texts(dumps[0]) if len(t.split()) > 200][:4]
    mirrors = [f"Home | About\n\n{t}\n\nCopyright Example Mirror" for t in articles]
    return mirrors + [p["text"] for p in pages[:6]]


def test_a_wikiref_folder_is_mapped_and_pickles_as_its_path(dumps, tmp_path, dask_client, pages):
    run_stage(WikirefStage(), dumps, str(tmp_path / "ref"), client=dask_client, progress=False)
    in_memory = ReferenceNgrams.build(dumps)
    stage = DecontaminateStage(benchmarks=["gsm8k"], wikipedia_reference=[str(tmp_path / "ref")])
    ctx = stage.prepare([], RunContext(str(tmp_path / "o"), str(tmp_path / "w"), dask_client))
    ref = ctx.reference
    assert isinstance(ref.hashes.keys, np.memmap) and isinstance(ref.hashes.bitmap, np.memmap)
    assert np.array_equal(ref.hashes.keys, in_memory.hashes.keys)
    assert np.array_equal(ref.hashes.bitmap, in_memory.hashes.bitmap) and ref.hashes.shift == in_memory.hashes.shift
    blob = pickle.dumps(ref)
    assert len(blob) < 1000 < ref.hashes.keys.nbytes  # a path, not the keys
    assert len(pickle.dumps(in_memory)) > ref.hashes.keys.nbytes
    dw = DocWords.from_texts(documents(dumps, pages))
    frac, total = ref.overlap(dw)
    assert (frac[:4] > 0.5).all() and (frac[4:] < 0.05).all()
    for other in (pickle.loads(blob), in_memory):
        f2, t2 = other.overlap(dw)
        assert np.array_equal(frac, f2) and np.array_equal(total, t2)


def test_dumps_given_to_decontaminate_are_saved_once_and_mapped_by_the_workers(dumps, tmp_path, dask_client, pages):
    texts = documents(dumps, pages)
    inputs = write_parts(tmp_path, texts, per_file=3)
    stage = DecontaminateStage(benchmarks=["gsm8k"], wikipedia_reference=dumps)
    stats = run_stage(stage, inputs, str(tmp_path / "out"), client=dask_client, progress=False)
    saved = tmp_path / "out" / "_work" / REFERENCE_WORK_FILE
    assert saved.exists() and np.array_equal(np.load(saved), ReferenceNgrams.build(dumps).hashes.keys)
    # the same decisions and overlaps as the step in one process with the reference in memory
    local = DecontaminateStage(benchmarks=["gsm8k"], wikipedia_reference=dumps).process_table(doc_table(texts))
    assert stats["removed"] == local.counters.removed == {"wikipedia_overlap": 4}
    kept = pq.read_table(sorted(str(p) for p in (tmp_path / "out").glob("part-*.parquet")))
    assert sorted(kept.column("id").to_pylist()) == sorted(local.kept.column("id").to_pylist())
    got = dict(zip(kept.column("id").to_pylist(), kept.column(OVERLAP_COLUMN).to_pylist(), strict=True))
    assert got == dict(zip(local.kept.column("id").to_pylist(), local.kept.column(OVERLAP_COLUMN).to_pylist(),
                           strict=True))


def test_a_saved_set_that_is_not_sorted_is_sorted_in_memory(tmp_path):
    keys = np.array([9, 3, 7, 3], dtype=np.uint64)
    np.save(tmp_path / "mine.npy", keys)
    ref = ReferenceNgrams.build([str(tmp_path / "mine.npy")])
    assert ref.path is None and ref.hashes.keys.tolist() == [3, 7, 9]
    assert ref.hashes.contains(np.array([7, 8], dtype=np.uint64)).tolist() == [True, False]
