"""Mix files and plans: weights, budgets, repetition, the validation split, and order by id alone."""

from __future__ import annotations

import numpy as np
import pytest

from corpus_forge.config import ConfigError
from tokenize_bpe.mix import MixSpec, SourceDocs, load_mix, plan_mix, val_mask
from tokenize_bpe.sample import id_hashes


def _source(n: int, lengths: np.ndarray, prefix: str, file_index: int = 0) -> SourceDocs:
    h = id_hashes([f"{prefix}-{i}" for i in range(n)])
    offs = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return SourceDocs(h, lengths.astype(np.int64), np.full(n, file_index, np.int32), offs)


def _lengths(n: int, seed: int) -> np.ndarray:
    # document lengths shaped like web pages: mostly a few hundred tokens, a long tail
    return np.random.default_rng(seed).lognormal(6.0, 1.0, n).astype(np.int64) + 2


def _spec(**kw) -> MixSpec:
    return MixSpec.model_validate(kw)


def test_weights_are_met_within_one_percent_and_the_budget_is_kept():
    web, books = _source(3000, _lengths(3000, 1), "web"), _source(400, _lengths(400, 2), "book", 1)
    spec = _spec(tokens=600_000, val_fraction=0.01,
                 sources=[{"path": "web", "weight": 0.8}, {"path": "books", "weight": 0.2}])
    plan = plan_mix(spec, [web, books], seed=0)
    got = [s["train_tokens"] for s in plan["sources"]]
    assert abs(sum(got) - 600_000) / 600_000 < 0.01
    assert abs(got[0] / sum(got) - 0.8) < 0.01 * 0.8 and abs(got[1] / sum(got) - 0.2) < 0.01 * 0.2
    assert not plan["budgets"]["stopped_short"]


def test_a_small_source_repeats_up_to_max_epochs_then_the_mix_stops_short():
    big, small = _source(2000, _lengths(2000, 3), "big"), _source(50, _lengths(50, 4), "small", 1)
    small_tokens = int(small.lengths[~val_mask(small.hashes, 0.0)].sum())
    spec = _spec(tokens=int(small_tokens * 10), val_fraction=0.0, max_epochs=3,
                 sources=[{"path": "big", "weight": 0.5}, {"path": "small", "weight": 0.5}])
    plan = plan_mix(spec, [big, small], seed=0)
    s_big, s_small = plan["sources"]
    assert s_small["epochs"] == 3.0 and s_small["train_documents"] == 150 and s_small["distinct_train_documents"] == 50
    b = plan["budgets"]
    assert b["stopped_short"] and b["limiting_source"] == "small"
    assert b["planned_tokens"] == 6 * small_tokens  # 3 epochs of the small source at weight 0.5
    assert abs(s_big["train_tokens"] - s_small["train_tokens"]) / s_small["train_tokens"] < 0.01
    # each repetition of the small source is a complete epoch: every document three times
    sel = plan["train"]
    counts = np.bincount(sel.doc[sel.source == 1], minlength=50)
    assert counts.tolist() == [3] * 50


def test_repetition_below_the_cap_takes_whole_epochs_then_part_of_one():
    src = _source(200, _lengths(200, 5), "s")
    total = int(src.lengths.sum())
    spec = _spec(tokens=int(total * 2.5), val_fraction=0.0, sources=[{"path": "s", "weight": 1}])
    plan = plan_mix(spec, [src], seed=1)
    assert 2.49 < plan["sources"][0]["epochs"] <= 2.5
    assert not plan["budgets"]["stopped_short"]


def test_order_depends_on_ids_and_seed_not_on_input_order():
    lengths = _lengths(500, 6)
    a = _source(500, lengths, "doc")
    perm = np.random.default_rng(0).permutation(500)
    b = SourceDocs(a.hashes[perm], a.lengths[perm], a.files[perm], a.offsets[perm])
    spec = _spec(tokens=int(lengths.sum() * 0.7), val_fraction=0.05, sources=[{"path": "x", "weight": 1}])
    pa_, pb = plan_mix(spec, [a], seed=3), plan_mix(spec, [b], seed=3)
    for split in ("train", "val"):
        assert (a.hashes[pa_[split].doc] == b.hashes[pb[split].doc]).all()
    other = plan_mix(spec, [a], seed=4)
    assert not np.array_equal(a.hashes[other["train"].doc], a.hashes[pa_["train"].doc])
    # the validation documents are chosen by id alone: the same for every seed
    assert set(a.hashes[other["val"].doc]) == set(a.hashes[pa_["val"].doc])


def test_no_weights_means_every_document_once():
    a, b = _source(100, _lengths(100, 7), "a"), _source(30, _lengths(30, 8), "b", 1)
    plan = plan_mix(_spec(val_fraction=0.0, sources=[{"path": "a"}, {"path": "b"}]), [a, b], seed=0)
    assert [s["train_documents"] for s in plan["sources"]] == [100, 30]
    assert [s["epochs"] for s in plan["sources"]] == [1.0, 1.0]


def test_a_misspelt_key_is_one_error_naming_it(tmp_path):
    bad = tmp_path / "mix.yaml"
    bad.write_text("seed: 0\nmixes:\n  web:\n    tokens: 100\n    sources:\n      - {path: x, wieght: 0.5}\n")
    with pytest.raises(ConfigError, match=r"mix.yaml: mixes.web.sources.0.wieght: unknown key"):
        load_mix(str(bad))
    bad.write_text("mixes:\n  web:\n    sources:\n      - {path: x, weight: 1}\n      - {path: y}\n")
    with pytest.raises(ConfigError, match="every source a 'weight'"):
        load_mix(str(bad))
