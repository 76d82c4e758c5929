"""The counting pass of ``max_ngram_docs`` runs on the run's client (RunContext.client), not on whatever
client happens to be Dask's default."""

from __future__ import annotations

import numpy as np
from decontam_helpers import plant, write_parts

from corpus_forge.stage import RunContext
from filters.support.benchmarks import load_benchmark
from filters.support.ngrams import DocWords
from pipelines.decontaminate import DecontaminateStage


class CountingClient:
    """The real client, counting the tasks mapped through it."""

    def __init__(self, client) -> None:
        self.client, self.mapped = client, 0

    def scatter(self, *args, **kwargs):
        return self.client.scatter(*args, **kwargs)

    def map(self, func, parts, **kwargs):
        self.mapped += len(parts)
        return self.client.map(func, parts, **kwargs)

    def gather(self, futures):
        return self.client.gather(futures)


def test_counting_pass_uses_the_runs_client(dask_client, tmp_path, english_pages):
    q = load_benchmark("gsm8k").items[7].texts[0]
    docs = [plant(english_pages[i], q, 1500)[0] for i in range(3)] + english_pages[3:5]
    parts_in = write_parts(tmp_path, docs, per_file=2)
    stage = DecontaminateStage(benchmarks=["gsm8k"], max_ngram_docs=2)
    parts = stage.partitions(parts_in)
    run_client = CountingClient(dask_client)
    ctx = stage.prepare(parts, RunContext(str(tmp_path), str(tmp_path), run_client))
    assert run_client.mapped == len(parts) == 3
    assert ctx.index.stats["gsm8k"]["ngrams_ignored"] > 0  # the planted question is in 3 > 2 documents
    # the same context without a run (in this process) ignores the same n-grams
    assert stage.prepare(parts).index.stats == ctx.index.stats


def test_the_clients_counts_are_one_array_of_index_size_for_any_number_of_partitions(dask_client, tmp_path,
                                                                                    english_pages):
    """Review row 11: partition results are folded into one dense array as they arrive (O(index) on the
    client), not gathered as per-partition key lists (O(partitions × matched n-grams))."""
    from pipelines.decontaminate import NgramDocCounts, count_ngram_documents

    items = load_benchmark("gsm8k").items
    docs = [plant(english_pages[i], items[i % 3].texts[0], 1500)[0] for i in range(8)]
    stage = DecontaminateStage(benchmarks=["gsm8k"], max_ngram_docs=2)
    index = stage.build_context().index
    seen = []
    for per_file, client in ((8, dask_client), (1, dask_client), (1, None)):
        (tmp_path / f"{per_file}-{client is None}").mkdir()
        parts = stage.partitions(write_parts(tmp_path / f"{per_file}-{client is None}", docs, per_file))
        total = count_ngram_documents(index, parts, client)
        assert isinstance(total, NgramDocCounts) and total.partitions == len(parts) == 8 // per_file
        assert total.counts.shape == (len(index),) and total.counts.dtype == np.int64
        seen.append(total.counts)
    assert np.array_equal(seen[0], seen[1]) and np.array_equal(seen[1], seen[2])
    # each planted question's n-grams are in the 3 (or 2) documents it was planted in, nothing else counts
    per_item = [3, 3, 2]
    for i, n_docs in enumerate(per_item):
        keys = np.unique(index.match(DocWords.from_texts([items[i].texts[0]])).key)
        assert len(keys) > 0 and (seen[0][keys] == n_docs).all()
    assert seen[0].sum() == sum(len(np.unique(index.match(DocWords.from_texts([items[i].texts[0]])).key)) * n
                                for i, n in enumerate(per_item))
