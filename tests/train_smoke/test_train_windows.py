"""Windows from real shards: document-aligned starts, an order fixed by the seed, every window once per epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokenize_bpe.shards import open_tokens, read_idx
from train_smoke.data import TrainBatches, val_windows, window_starts


def test_window_starts_by_hand():
    # 25 tokens, windows of 4 + 1: starts 0, 4, ..., 20 (20 + 5 = 25 fits)
    assert window_starts(25, 4, None).tolist() == [0, 4, 8, 12, 16, 20]
    # documents at 0 (length 6) and 6 (length 19): 0, 4 | 6, 10, 14, 18 (22 would overrun)
    assert window_starts(25, 4, np.array([0, 6])).tolist() == [0, 4, 6, 10, 14, 18]
    assert window_starts(4, 4, None).tolist() == []


def test_aligned_windows_start_at_endoftext(brown_mix, tokenizer_dir):
    eot = 511
    toks = open_tokens(brown_mix / "train-00000.bin")
    docs = read_idx(brown_mix / "train-00000.bin")
    assert (np.asarray(toks[docs]) == eot).all()
    b = TrainBatches(brown_mix, block_size=64, batch_size=4, seed=0, align_docs=True)
    firsts = set(docs.tolist())
    doc_starts = [s for s in b.start_of if s in firsts]
    assert len(doc_starts) == len(docs)  # every document's first window begins at its <|endoftext|>


def test_the_order_is_a_function_of_seed_and_step(brown_mix):
    a = TrainBatches(brown_mix, 64, 4, seed=1)
    b = TrainBatches(brown_mix, 64, 4, seed=1)
    c = TrainBatches(brown_mix, 64, 4, seed=2)
    x7, y7 = a.batch(7)
    a.batch(500)  # moving on (into a later epoch) and back changes nothing
    assert torch.equal(b.batch(7)[0], x7) and torch.equal(a.batch(7)[0], x7)
    assert not torch.equal(c.batch(7)[0], x7)
    assert torch.equal(x7[:, 1:], y7[:, :-1])  # targets are inputs shifted by one


def test_an_epoch_visits_every_window_once(brown_mix):
    b = TrainBatches(brown_mix, 64, 1, seed=0)
    seen = [b._window(k) for k in range(len(b))]
    assert len(set(seen)) == len(b)
    assert b._window(len(b)) in set(seen)  # the next epoch draws from the same windows


def test_val_windows_are_fixed_and_from_the_val_split(brown_mix):
    v = val_windows(brown_mix, 64, max_tokens=640)
    assert v.shape == (10, 65)
    toks = open_tokens(brown_mix / "val-00000.bin")
    assert v[1].tolist() == np.asarray(toks[64:129]).tolist()


def test_a_mix_without_train_shards_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train-"):
        TrainBatches(tmp_path, 64, 4, seed=0)


def test_windows_come_from_every_train_shard(brown_mix, tmp_path):
    # the mix's one train shard cut into two (at a document start), as pack does past shard_tokens
    from tokenize_bpe.shards import write_shard

    toks = np.asarray(open_tokens(brown_mix / "train-00000.bin"))
    docs = read_idx(brown_mix / "train-00000.bin").astype(np.int64)
    cut = int(docs[len(docs) // 2])
    write_shard(tmp_path / "train-00000.bin", toks[:cut], docs[docs < cut], 1)
    write_shard(tmp_path / "train-00001.bin", toks[cut:], docs[docs >= cut] - cut, 1)
    one = TrainBatches(brown_mix, 64, 4, seed=0)
    two = TrainBatches(tmp_path, 64, 4, seed=0)
    # the same windows (every block_size tokens from each document start) but the one window of the last
    # document before the cut that ran on into the next shard's first document
    assert len(two) in (len(one) - 1, len(one))
    assert sorted(set(two.shard_of.tolist())) == [0, 1]
    x, _ = two.batch(3)
    shard, start = two._window(12)
    assert x[0].tolist() == np.asarray(open_tokens(tmp_path / f"train-0000{shard}.bin")[start : start + 64]).tolist()
