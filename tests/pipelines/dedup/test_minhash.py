"""MinHash signatures: normalization, shingles, estimates against true Jaccard and against datasketch."""

from __future__ import annotations

import numpy as np
import pytest
from dedup_helpers import delete_block, shingle_set, substitute, true_jaccard

from pipelines.dedup.minhash import (
    EMPTY,
    MinHasher,
    candidate_probability,
    kernels,
    lsh_params,
    normalize,
    normalize_batch,
)


def test_normalize_lowercases_folds_diacritics_and_squeezes_numbers_and_punctuation():
    # worked by hand: digit runs -> 0 ("3.14" is two runs), punctuation -> space, é -> e
    assert normalize("  Héllo, WORLD!! 3.14 is   pi... café 2024 ") == "hello world 0 0 is pi cafe 0"
    assert normalize("Ünïcödé ÉCOLE naïve—test 12,000") == "unicode ecole naive test 0 0"
    assert normalize("") == "" and normalize("!!! ...") == ""
    assert normalize("tab\tnew\nline\r\n\u00a0nbsp") == "tab new line nbsp"


def test_numba_and_numpy_paths_agree_on_real_articles(articles):
    if kernels() is None:
        pytest.skip("numba not installed: only the numpy path exists")
    texts = [a["text"] for a in articles] + ["", "short text", "É\u0301\ud800 bad surrogate"]
    fast, slow = MinHasher(), MinHasher(use_numba=False)
    c1, o1 = fast.normalize(texts)
    c2, o2 = slow.normalize(texts)
    assert np.array_equal(c1, c2) and np.array_equal(o1, o2)
    h1, s1 = fast.shingles(c1, o1)
    h2, s2 = slow.shingles(c1, o1)
    assert np.array_equal(h1, h2) and np.array_equal(s1, s2)
    assert np.array_equal(fast.signatures_from_shingles(h1, s1), slow.signatures_from_shingles(h1, s1))


def test_pyarrow_column_and_list_give_the_same_signatures(articles):
    import pyarrow as pa

    texts = [a["text"] for a in articles[:10]]
    arr = pa.chunked_array([pa.array(texts[:4]), pa.array(texts[4:])]).slice(1)
    assert np.array_equal(MinHasher().signatures(arr), MinHasher().signatures(texts[1:]))


def test_shingle_counts_match_word_counts():
    m = MinHasher(ngram=5)
    texts = ["a b c d e f g", "one two", "", "Same five word phrase here", "same five word phrase here!"]
    h, off = m.shingles(*m.normalize(texts))
    # 7 words -> 3 five-grams; under 5 words -> one shingle; no words -> none
    assert np.diff(off).tolist() == [3, 1, 0, 1, 1]
    assert h[off[3]] == h[off[4]]  # normalization makes these identical
    sig = m.signatures_from_shingles(h, off)
    assert (sig[2] == EMPTY).all() and not (sig[0] == EMPTY).all()


def test_estimates_are_unbiased_against_true_jaccard_like_datasketch(articles):
    from datasketch import MinHash

    m = MinHasher(bands=16, rows=8)  # 128 permutations
    pairs = []
    for i, a in enumerate(articles[:30]):
        t = a["text"]
        for variant in (substitute(t, 100, seed=i), delete_block(t, 0.1), substitute(t, 25, seed=i),
                        substitute(t, 12, seed=i)):
            pairs.append((t, variant))
    sigs = m.signatures([x for p in pairs for x in p]).reshape(len(pairs), 2, -1)
    ours = (sigs[:, 0] == sigs[:, 1]).mean(axis=1)
    truth = np.array([true_jaccard(a, b) for a, b in pairs])
    ds = []
    for a, b in pairs:
        ma, mb = MinHash(num_perm=128, seed=1), MinHash(num_perm=128, seed=1)
        ma.update_batch([" ".join(s).encode() for s in shingle_set(a)])
        mb.update_batch([" ".join(s).encode() for s in shingle_set(b)])
        ds.append(ma.jaccard(mb))
    ds = np.array(ds)
    sd = np.sqrt(truth * (1 - truth) / 128)  # binomial standard deviation of one estimate
    assert truth.min() < 0.5 < 0.8 < truth.max()  # the edits span the interesting range
    # every estimate within 4 sd of the truth; mean error within 3 standard errors, like datasketch's
    assert np.all(np.abs(ours - truth) <= 4 * sd + 1e-9)
    se = np.sqrt(np.mean(sd**2) / len(pairs))
    assert abs(np.mean(ours - truth)) < 3 * se
    assert abs(np.mean(ds - truth)) < 3 * se
    assert np.mean(np.abs(ours - truth)) < 1.5 * np.mean(np.abs(ds - truth)) + 0.01


def test_lsh_parameters_match_datasketch_and_fineweb():
    from datasketch import MinHashLSH

    for threshold, num_perm in ((0.5, 128), (0.8, 112), (0.7, 256)):
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert lsh_params(threshold, num_perm) == (lsh.b, lsh.r)
    # FineWeb's comment: 14 bands x 8 rows catch a pair at Jaccard 0.8 with probability 0.924
    assert candidate_probability(0.8, 14, 8) == pytest.approx(1 - (1 - 0.8**8) ** 14)
    assert round(float(candidate_probability(0.8, 14, 8)), 3) == 0.924


def test_band_keys_change_only_for_the_changed_band():
    m = MinHasher(bands=14, rows=8)
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, size=(1, 112), dtype=np.uint64).astype(np.uint32)
    other = sig.copy()
    other[0, 8 * 3 + 5] ^= 1  # one value in band 3
    a, same, changed = m.band_hashes(np.vstack([sig, sig, other]))
    assert np.array_equal(a, same)
    assert [i for i in range(14) if a[i] != changed[i]] == [3]
    assert len(set(a.tolist())) == 14  # bands never collide with each other


def test_seed_changes_signatures_deterministically(articles):
    t = [articles[0]["text"]]
    assert np.array_equal(MinHasher(seed=3).signatures(t), MinHasher(seed=3).signatures(t))
    assert not np.array_equal(MinHasher(seed=3).signatures(t), MinHasher(seed=4).signatures(t))


def test_normalize_batch_offsets_cover_each_document():
    codes, off = normalize_batch(["A b", "", "c!"])
    docs = [codes[off[i]:off[i + 1]].tobytes().decode("utf-32-le") for i in range(3)]
    assert docs == ["a b", "", "c"]
