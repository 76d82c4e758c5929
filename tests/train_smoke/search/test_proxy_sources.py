"""A proxy trains on packed sources at given weights, also when a source of a few documents has no val split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import TESTS, make_eval, make_sources, make_tokenizer

from corpus_forge.config import validate
from corpus_forge.runner import run_stage
from tokenize_bpe.pack import PackStage
from train_smoke.config import TrainConfig

POEMS = TESTS.parent / "samples" / "books" / "blake-poems.txt.gz"  # one document: no val split at 10%


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, dask_client) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("proxy")
    tok = make_tokenizer(root / "tok")
    src = make_sources(root / "src")
    mix = {"seed": 0, "shard_tokens": 100_000, "mixes": {
        "web": {"val_fraction": 0.1, "sources": [{"path": str(src["web"]), "name": "web"}]},
        "poems": {"val_fraction": 0.1, "sources": [{"path": str(POEMS), "name": "poems"}]}}}
    stats = run_stage(PackStage.from_options({"tokenizer": str(tok), "mix": mix}), [], str(root / "packed"),
                      client=dask_client, progress=False)
    assert stats["partitions_failed"] == 0
    return {"web": root / "packed" / "web", "poems": root / "packed" / "poems", "eval": make_eval(root / "eval")[0],
            "root": root}


def test_a_proxy_trains_the_asked_shares_with_a_source_that_has_no_val_split(packed):
    assert not list(packed["poems"].glob("val-*.bin")) and list(packed["web"].glob("val-*.bin"))
    from train_smoke.pretrain import train

    cfg = validate(TrainConfig, {
        "sources": {"web": str(packed["web"]), "poems": str(packed["poems"])}, "weights": {"web": 0.3, "poems": 0.7},
        "out": str(packed["root"] / "run"), "model": "tiny", "tokens": 16384, "block_size": 32, "batch_size": 4,
        "val_tokens": 512, "eval_every": 10_000, "eval": [str(packed["eval"])], "progress": False}, "test")
    summary = train(cfg)
    by = summary["tokens_seen_by_source"]
    assert abs(by["poems"] / (by["web"] + by["poems"]) - 0.7) < 0.02
    assert summary["val_loss"] > 0 and json.loads((packed["root"] / "run" / "summary.json").read_text())["seed"] == 0
