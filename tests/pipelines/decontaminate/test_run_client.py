"""The counting pass of ``max_ngram_docs`` runs on the run's client (RunContext.client), not on whatever
client happens to be Dask's default."""

from __future__ import annotations

from decontam_helpers import plant, write_parts

from corpus_forge.stage import RunContext
from filters.support.benchmarks import load_benchmark
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
