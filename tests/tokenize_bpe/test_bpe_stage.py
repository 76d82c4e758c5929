"""``bpe`` through the runner on a real LocalCluster: sample, train, export, stats; same sample for any layout."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from corpus_forge.runner import run_stage
from tokenize_bpe.bpe import BpeStage
from tokenize_bpe.encode import hf_tokenizer, tiktoken_encoding
from tokenize_bpe.export import EOT
from tokenize_bpe.shards import file_sha256

OPTIONS = {"vocab_size": 1024, "sample_bytes": 600_000, "heldout_bytes": 60_000, "seed": 0}


def test_bpe_trains_exports_and_reports_on_a_stage_folder_and_books(tmp_path, stage_dir, text_dir, dask_client,
                                                                    tokenizer_dir):
    out = tmp_path / "bpe"
    stats = run_stage(BpeStage.from_options({**OPTIONS, "reference": str(tokenizer_dir / "tokenizer.json")}),
                      [str(stage_dir), str(text_dir / "books")], str(out), client=dask_client, progress=False)
    assert (out / "_SUCCESS").exists() and not list(out.glob("part-*.parquet"))
    assert stats["documents_in"] == 25 and stats["documents_out"] == 25  # 20 web pages + 5 books, none empty
    assert stats["vocab_size"] == 1024 and stats["eot_id"] == 1023
    # the sample stops before the budget, and the held-out documents are never trained on
    assert 0 < stats["training_bytes"] <= 600_000 + max(len(t.encode()) for t in _texts(stage_dir, text_dir))
    assert stats["heldout_documents"] >= 1
    bpt = stats["bytes_per_token"]
    assert 2.0 < bpt["eval_text"] < 5.0 and 1.5 < bpt["heldout"] < 6.0
    # the 2048-token session tokenizer (trained on more text) compresses better than this 1024-token one
    assert stats["reference"]["bytes_per_token"]["eval_text"] > bpt["eval_text"]
    hf = hf_tokenizer(out / "tokenizer.json")
    assert hf.token_to_id(EOT) == 1023
    text = "Mr. Darcy's 12 letters — 東京 🙂"
    assert hf.encode(text, add_special_tokens=False).ids == tiktoken_encoding(out).encode_ordinary(text)
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk["pattern"] == stats["pattern"] and on_disk["trainer"] == "rustbpe"


def test_the_sample_and_tokenizer_do_not_depend_on_how_the_input_is_split(tmp_path, stage_dir, dask_client):
    one = tmp_path / "one"
    one.mkdir()
    tables = [pq.read_table(p) for p in sorted(stage_dir.glob("part-*.parquet"))]
    pq.write_table(pa.concat_tables(tables), one / "part-00000.parquet")
    options = {**OPTIONS, "sample_bytes": 40_000, "vocab_size": 600}
    a = run_stage(BpeStage.from_options(options), [str(stage_dir)], str(tmp_path / "a"), client=dask_client,
                  progress=False)
    b = run_stage(BpeStage.from_options(options), [str(one)], str(tmp_path / "b"), client=dask_client,
                  progress=False)
    assert a["partitions"] == 2 and b["partitions"] == 1
    assert a["training_documents"] == b["training_documents"] and a["training_bytes"] == b["training_bytes"]
    assert file_sha256(tmp_path / "a" / "tokenizer.tiktoken") == file_sha256(tmp_path / "b" / "tokenizer.tiktoken")


def _texts(stage_dir, text_dir):
    import gzip

    out = [t for p in sorted(stage_dir.glob("part-*.parquet")) for t in pq.read_table(p)["text"].to_pylist()]
    return out + [gzip.decompress(p.read_bytes()).decode() for p in sorted((text_dir / "books").glob("*.gz"))]


def test_a_corpus_smaller_than_the_defaults_keeps_nine_tenths_for_training(tmp_path, text_dir, dask_client):
    # default sample_bytes (1 GiB) and heldout_bytes (4 MiB) on ~1.2 MB: held-out is capped at 10% of the input
    stats = run_stage(BpeStage.from_options({"vocab_size": 1000}), [str(text_dir / "books"), str(text_dir / "wiki")],
                      str(tmp_path / "bpe"), client=dask_client, progress=False)
    total = stats["text_bytes"]
    assert stats["training_bytes"] + stats["heldout_bytes"] == total
    assert 0 < stats["heldout_bytes"] <= 0.1 * total and stats["training_documents"] + stats["heldout_documents"] == 20
