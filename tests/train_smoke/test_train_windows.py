"""Windows from real shards: one epoch covers every train token about once (shard heads included), starts
snap back to document starts, per-source counts are exact, the order is a function of (seed, window)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_smoke_helpers import book_docs, pack_sources

from tokenize_bpe.shards import open_tokens, read_idx
from train_smoke.data import IGNORE, TrainBatches, load_windows, overlap, split_counts, val_windows, window_starts


def batches(mix, block=64, batch=4, seed=0, align=True) -> TrainBatches:
    return TrainBatches([load_windows(mix, block, align)], block, batch, seed)


def coverage(n_tokens: int, starts: np.ndarray, block: int) -> np.ndarray:
    """How often each token is a trained target of some window (its overlap with the previous one masked)."""
    c = np.zeros(n_tokens, np.int64)
    for s, skip in zip(starts, overlap(starts, block), strict=True):
        c[s + skip + 1 : s + block + 1] += 1
    return c


def test_window_starts_by_hand():
    # 25 tokens, windows of 4 + 1: steps of 4 (0..20), the last window ends at the last token
    assert window_starts(25, 4, None).tolist() == [0, 4, 8, 12, 16, 20]
    assert window_starts(27, 4, None).tolist() == [0, 4, 8, 12, 16, 20, 22]  # 22 + 5 = 27: the tail too
    # documents at 0, 6 and 9: 0 | 4 (no start in 1..4) | 6 (latest start in 5..8) | 9 (in 7..10) | 13, 17 | 20
    assert window_starts(25, 4, np.array([0, 6, 9])).tolist() == [0, 4, 6, 9, 13, 17, 20]
    assert window_starts(4, 4, None).tolist() == []


def test_one_epoch_trains_every_token_exactly_once(brown_mix):
    toks = open_tokens(brown_mix / "train-00000.bin")
    docs = read_idx(brown_mix / "train-00000.bin").astype(np.int64)
    for aligned in (docs, None):
        starts = window_starts(len(toks), 64, aligned)
        assert (coverage(len(toks), starts, 64)[1:] == 1).all()  # the first token is only ever an input
    # every document at least a block long gets a window at its <|endoftext|>
    starts = set(window_starts(len(toks), 64, docs).tolist())
    lengths = np.diff(np.append(docs, len(toks)))
    assert all(int(d) in starts for d, n in zip(docs, lengths, strict=True) if n >= 64 and d + 65 <= len(toks))


def test_the_targets_a_window_shares_with_its_predecessor_are_masked(brown_mix):
    w = load_windows(brown_mix, 64)
    b = TrainBatches([w], 64, 16, seed=0)
    for k in range(20):
        x, y = b.batch(k)
        for row in range(16):
            skip = int(w.skip[b.window(16 * k + row)[1]])
            assert (y[row, :skip] == IGNORE).all() and (y[row, skip:] >= 0).all()
            assert torch.equal(x[row, skip + 1 :], y[row, skip:-1])


def test_the_tokens_before_a_shards_first_document_are_trained(tokenizer_dir, tmp_path):
    # cut every 3,000 tokens, so most shards start inside a document continued from the previous shard
    mix = pack_sources(tmp_path / "cut", {"brown": book_docs("chesterton-brown")}, tokenizer_dir,
                       shard_tokens=3000)
    w = load_windows(mix, 64)
    assert len(w.tokens) > 5
    for i, toks in enumerate(w.tokens):
        docs = read_idx(mix / f"train-{i:05d}.bin")
        first_doc = int(docs[0]) if len(docs) else len(toks)
        assert first_doc > 0 or i == 0
        cov = coverage(len(toks), w.start[w.shard == i], 64)
        assert (cov[1:first_doc] == 1).all() and (cov[1:] == 1).all()


def test_shares_trained_are_the_packed_shares_for_short_and_long_documents(tokenizer_dir, tmp_path):
    # the review's case, scaled down: a 50/50 mix by tokens of ~1/16-block documents and ~4-block documents;
    # document-start windows used to give the short source ~84% of the tokens trained
    lines = [ln for d in book_docs("chesterton-brown") for ln in d.splitlines() if ln.strip()]
    short = [" ".join(lines[i : i + 1]) for i in range(0, 1600)]  # a sentence each: ~20-30 tokens
    long_ = book_docs("austen-persuasion", lines_per_doc=60)
    mix = pack_sources(tmp_path / "mix", {"short": short, "long": long_}, tokenizer_dir, shard_tokens=20_000)
    w = load_windows(mix, 256)
    assert w.exact
    b = TrainBatches([w], 256, 8, seed=0)
    packed = {s["name"]: s["achieved_weight"] for s in __import__("json").loads(
        (mix / "manifest.json").read_text())["sources"]}
    for n_windows in (len(b), len(b) // 3):  # one epoch, and a third of one
        got = b.tokens_by_source(n_windows)
        total = sum(got.values())
        assert n_windows * 256 * 0.9 < total <= n_windows * 256
        for name, share in packed.items():
            assert abs(got[name] / total - share) < 0.02, (name, got[name] / total, share)


def test_tokens_by_source_counts_exactly_what_the_batches_hold(tokenizer_dir, tmp_path):
    mix = pack_sources(tmp_path / "mix", {"brown": book_docs("chesterton-brown", max_docs=60),
                                          "austen": book_docs("austen-persuasion", max_docs=60)},
                       tokenizer_dir, shard_tokens=5000)
    w = load_windows(mix, 32)
    b = TrainBatches([w], 32, 4, seed=3)
    # token by token: which source each input token came from, from the .src sidecar
    from tokenize_bpe.shards import read_src

    count = {"brown": 0, "austen": 0}
    names = ["brown", "austen"]
    import json

    shards = {s["file"]: s for s in json.loads((mix / "manifest.json").read_text())["shards"]}
    for j in range(40):
        _, i = b.window(j)
        shard, start = int(w.shard[i]), int(w.start[i])
        path = mix / f"train-{shard:05d}.bin"
        docs, src = read_idx(path).astype(np.int64), read_src(path)
        for pos in range(start + int(w.skip[i]) + 1, start + 33):
            k = np.searchsorted(docs, pos, side="right") - 1
            s = shards[path.name]["head_source"] if k < 0 else int(src[k])
            count[names[s]] += 1
    assert b.tokens_by_source(40) == count


def test_weighted_sources_train_at_their_weights(brown_mix, persuasion_mix):
    pools = [load_windows(brown_mix, 32, name="brown"), load_windows(persuasion_mix, 32, name="persuasion")]
    b = TrainBatches(pools, 32, 4, seed=0, weights=[0.25, 0.75], total=800)
    got = b.tokens_by_source(800)
    assert (b.pool_of == 0).sum() == 200 and (b.pool_of == 1).sum() == 600  # windows split 1 : 3
    assert 200 * 32 * 0.9 < got["brown"] <= 200 * 32 and 600 * 32 * 0.9 < got["persuasion"] <= 600 * 32
    x, _ = b.batch(3)
    pool, i = b.window(12)
    p = pools[pool]
    assert x[0].tolist() == np.asarray(p.tokens[p.shard[i]][p.start[i] : p.start[i] + 32]).tolist()
    assert split_counts([0.5, 0.25, 0.25], 7).tolist() == [3, 2, 2] and split_counts([1, 1, 1], 7).sum() == 7


def test_the_order_is_a_function_of_seed_and_step(brown_mix):
    a, b, c = batches(brown_mix, seed=1), batches(brown_mix, seed=1), batches(brown_mix, seed=2)
    x7, y7 = a.batch(7)
    a.batch(500)  # moving on (into a later epoch) and back changes nothing
    assert torch.equal(b.batch(7)[0], x7) and torch.equal(a.batch(7)[0], x7)
    assert not torch.equal(c.batch(7)[0], x7)
    kept = y7[:, :-1] != IGNORE
    assert torch.equal(x7[:, 1:][kept], y7[:, :-1][kept])  # targets are inputs shifted by one


def test_an_epoch_visits_every_window_once(brown_mix):
    b = batches(brown_mix, batch=1)
    seen = [b.window(k) for k in range(len(b))]
    assert len(set(seen)) == len(b)
    assert b.window(len(b)) in set(seen)  # the next epoch draws from the same windows


def test_val_windows_are_fixed_and_from_the_val_split(brown_mix):
    v = val_windows(brown_mix, 64, max_tokens=640)
    assert v.shape == (10, 65)
    toks = open_tokens(brown_mix / "val-00000.bin")
    assert v[1].tolist() == np.asarray(toks[64:129]).tolist()


def test_a_mix_without_train_shards_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train-"):
        load_windows(tmp_path, 64)
