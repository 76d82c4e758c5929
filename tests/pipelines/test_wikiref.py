"""The ``wikiref`` step: a Wikipedia reference built by several tasks per dump equals the one-process build,
and decontaminate reads the saved folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corpus_forge.config import ConfigError
from corpus_forge.runner import run_stage
from filters.wikipedia import ReferenceNgrams
from pipelines.decontaminate import DecontaminateStage
from pipelines.wikiref import WikirefConfig, WikirefStage


@pytest.fixture(scope="module")
def dumps(data_dir):
    wiki = data_dir / "decontam" / "wiki"
    return [str(wiki / "enwiki-sample.xml.bz2"), str(wiki / "enwiki-table-markup.xml.bz2")]


@pytest.mark.parametrize("shards", [1, 3])
def test_sharded_build_equals_the_single_process_reference(dumps, tmp_path, dask_client, shards):
    stats = run_stage(WikirefStage(WikirefConfig(shards=shards)), dumps, str(tmp_path / "ref"), client=dask_client,
                      progress=False)
    one = ReferenceNgrams.build(dumps)
    saved = np.load(tmp_path / "ref" / "reference.npy", allow_pickle=False)
    assert np.array_equal(saved, one.hashes.keys) and len(saved) > 1000
    assert stats["partitions"] == 2 * shards and stats["documents_out"] == one.texts
    # every page read is an article used or a skipped redirect / other namespace
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["removed"].values())
    info = json.loads((tmp_path / "ref" / "reference.json").read_text())
    assert info["ngrams"] == len(saved) and info["ngram"] == 13


def test_decontaminate_reads_a_wikiref_folder_and_checks_its_ngram_size(dumps, tmp_path, dask_client):
    run_stage(WikirefStage(), dumps, str(tmp_path / "ref"), client=dask_client, progress=False)
    from_folder = DecontaminateStage(wikipedia_reference=[str(tmp_path / "ref")]).build_context()
    from_dumps = DecontaminateStage(wikipedia_reference=dumps).build_context()
    assert np.array_equal(from_folder.reference.hashes.keys, from_dumps.reference.hashes.keys)
    with pytest.raises(ConfigError, match="wikipedia_ngram=8"):
        DecontaminateStage(wikipedia_reference=[str(tmp_path / "ref")], wikipedia_ngram=8).check()


def test_a_reference_saved_to_a_bucket_is_read_back_by_decontaminate(dumps, tmp_path, dask_client, s3_bucket):
    import fsspec

    run_stage(WikirefStage(WikirefConfig(shards=2)), dumps, f"{s3_bucket}/ref", client=dask_client, progress=False)
    assert fsspec.filesystem("s3").exists(f"{s3_bucket}/ref/_SUCCESS")
    from_bucket = DecontaminateStage(wikipedia_reference=[f"{s3_bucket}/ref"]).build_context()
    assert np.array_equal(from_bucket.reference.hashes.keys, ReferenceNgrams.build(dumps).hashes.keys)


def test_the_shards_merge_streaming_in_rounds_to_the_sorted_union(dumps, tmp_path):
    """wikiref's last phase (on a worker): many rounds of a small key budget give exactly the sorted union of
    the shards' sets, keys shared by several shards once (review row 11: no task holds the reference)."""
    from filters.support.ngrams import sorted_unique
    from pipelines.wikiref import merge_sorted_sets

    sets = [ReferenceNgrams.build([d]).hashes.keys for d in dumps]
    sets += [sets[0][::3].copy(), sets[1][5:40].copy(), np.empty(0, dtype=np.uint64)]  # overlapping, empty
    paths = []
    for i, s in enumerate(sets):
        np.save(tmp_path / f"{i}.npy", s)
        paths.append(str(tmp_path / f"{i}.npy"))
    n = merge_sorted_sets(paths, str(tmp_path / "out.npy"), budget=8 * 1024 * len(sets))  # 1,024 keys a set
    out = np.load(tmp_path / "out.npy", allow_pickle=False)
    assert n == len(out) > 2 * 1024 and np.array_equal(out, sorted_unique(np.concatenate(sets)))
    assert np.array_equal(out, ReferenceNgrams.build(dumps).hashes.keys)
