"""``bpe`` trains as a task on a worker, on a sample bounded by ``sample_bytes`` and fixed by the seed
(issue #21: a laptop drives a cluster's run; the client never trains)."""

from __future__ import annotations

import hashlib
import os

import pyarrow.parquet as pq
from tiny_parts import write_tiny_partitions

import tokenize_bpe.bpe as bpe
from corpus_forge.runner import run_stage
from tokenize_bpe.bpe import BpeStage

OPTIONS = {"vocab_size": 600, "sample_bytes": 30_000, "heldout_bytes": 5_000, "seed": 0}


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _sample_bytes(out) -> int:
    """Text bytes the partitions kept for the global selection (what the selection and training can hold)."""
    folder = os.path.join(out, "_work", bpe.SAMPLES)
    return sum(sum(pq.read_table(os.path.join(folder, f), columns=["nbytes"]).column("nbytes").to_pylist())
               for f in os.listdir(folder))


def test_training_runs_on_a_worker_not_in_the_client(tmp_path, stage_dir, dask_client, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the client process trained the tokenizer")

    monkeypatch.setattr(bpe, "train_ranks", refuse)  # in this process only: the workers are other processes
    stats = run_stage(BpeStage.from_options(OPTIONS), [str(stage_dir)], str(tmp_path / "bpe"),
                      client=dask_client, progress=False)
    assert stats["vocab_size"] == 600 and (tmp_path / "bpe" / "tokenizer.json").exists()
    assert stats["training_bytes"] > 0


def test_the_sample_is_bounded_by_sample_bytes_whatever_the_input_size(tmp_path, dask_client):
    held = {}
    for n in (20, 160):  # 20 real documents, then 160 (8x the text)
        write_tiny_partitions(str(tmp_path / f"in{n}"), n // 4, docs_per_part=4)
        out = str(tmp_path / f"bpe{n}")
        stats = run_stage(BpeStage.from_options(OPTIONS), [str(tmp_path / f"in{n}")], out, client=dask_client,
                          progress=False)
        held[n] = (stats["text_bytes"], _sample_bytes(out), stats["training_bytes"])
    (in_small, _, train_small), (in_large, kept_large, train_large) = held[20], held[160]
    assert in_large == 8 * in_small > 10 * OPTIONS["sample_bytes"]
    assert max(train_small, train_large) <= OPTIONS["sample_bytes"]
    # what is kept for the selection does not grow with the input: about twice the sample, at any size
    assert kept_large <= 4 * (OPTIONS["sample_bytes"] + OPTIONS["heldout_bytes"])
    assert kept_large < in_large / 4


def test_the_same_seed_gives_the_same_tokenizer_and_another_seed_another_sample(tmp_path, dask_client):
    write_tiny_partitions(str(tmp_path / "in"), 40, docs_per_part=4)
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        out = tmp_path / name
        runs[name] = run_stage(BpeStage.from_options({**OPTIONS, "seed": seed}), [str(tmp_path / "in")], str(out),
                               client=dask_client, progress=False), _sha(out / "tokenizer.json")
    assert runs["a"][1] == runs["b"][1]
    assert runs["a"][0]["training_bytes"] == runs["b"][0]["training_bytes"]
    assert (runs["c"][0]["training_bytes"], runs["c"][1]) != (runs["a"][0]["training_bytes"], runs["a"][1])
