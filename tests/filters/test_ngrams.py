"""Normalization, n-gram hashes and the hash set, checked against plain-Python references."""

from __future__ import annotations

import random
import re

import numpy as np

from filters.support.ngrams import (
    DocWords,
    HashSet,
    normalize,
    window_hashes,
    word_bytes,
    word_hashes,
    word_spans,
    words,
)


def test_normalization_lowercases_deletes_punctuation_and_collapses_whitespace():
    # GSM8K test item 0, by hand: ’ and $ and ? are deleted, case folded, runs of spaces collapsed.
    text = "Janet’s ducks lay 16 eggs per day.  She sells the remainder ... for $2 per fresh duck egg?"
    assert words(text) == ["janets", "ducks", "lay", "16", "eggs", "per", "day", "she", "sells", "the",
                           "remainder", "for", "2", "per", "fresh", "duck", "egg"]
    assert normalize("HOW MANY\tbolts,\n in total?") == "how many bolts in total"
    assert words("snake_case (x) -- 3.5") == ["snakecase", "x", "35"]


def test_fast_byte_path_equals_the_plain_python_definition_on_real_pages(pages):
    # The definition: lowercase, delete every char that is neither \w nor whitespace (and "_"), split.
    ref = re.compile(r"[^\w\s]|_")
    for p in pages:
        assert words(p["text"]) == ref.sub("", p["text"].lower()).split()


def test_word_spans_align_with_words_on_real_and_random_text(pages):
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0x250)] + list("’“”—…\u00a0\u2009\u3000\u0085İ\u212a\u0301")
    randoms = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    for text in [p["text"] for p in pages] + randoms:
        spans = word_spans(text)
        ws = words(text)
        assert len(spans) == len(ws)
        for (a, b), w in zip(spans, ws, strict=True):
            assert normalize(text[a:b]) == w


def test_window_hashes_equal_exactly_for_equal_word_sequences(pages):
    text = " ".join(p["text"] for p in pages[:20])
    ws = words(text)
    for k in (1, 8, 13):
        got = window_hashes(word_hashes(word_bytes(text)), k)
        tuples = [tuple(ws[i : i + k]) for i in range(len(ws) - k + 1)]
        assert len(got) == len(tuples)
        # same sequence ⇔ same hash: the partition of positions by hash equals the partition by words
        assert len(set(got.tolist())) == len(set(tuples))
        first_by_tuple: dict[tuple, int] = {}
        for i, t in enumerate(tuples):
            j = first_by_tuple.setdefault(t, i)
            assert got[i] == got[j]
    assert window_hashes(word_hashes(word_bytes("too short")), 13).size == 0


def test_window_length_is_part_of_the_hash():
    h = word_hashes(word_bytes("a b c d e f g h"))
    assert window_hashes(h, 3)[0] != window_hashes(h, 4)[0]
    assert window_hashes(h, 8)[0] != window_hashes(h, 7)[0]


def test_window_hash_is_position_independent():
    h = word_hashes(word_bytes("x y z the quick brown fox jumps"))
    alone = window_hashes(word_hashes(word_bytes("the quick brown fox")), 4)
    assert window_hashes(h, 4)[3] == alone[0]


def test_doc_windows_never_cross_documents(pages):
    texts = [p["text"] for p in pages[:30]] + ["", "one two", None]
    dw = DocWords.from_texts(texts)
    for k in (5, 13):
        w, pos = dw.windows(k)
        expected = sum(max(0, len(words(t or "")) - k + 1) for t in texts)
        assert len(w) == len(pos) == expected


def test_hash_set_membership_matches_a_python_set():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**64, size=50_000, dtype=np.uint64)
    hs = HashSet.build(np.concatenate([keys, keys[:100]]))  # duplicates collapse
    assert len(hs) == len(set(keys.tolist()))
    probe = np.concatenate([keys[::7], rng.integers(0, 2**64, size=50_000, dtype=np.uint64)])
    key_set = set(keys.tolist())
    want = np.array([x in key_set for x in probe.tolist()])
    assert np.array_equal(hs.contains(probe), want)
    found = hs.find(probe)
    assert np.all(hs.keys[found[found >= 0]] == probe[found >= 0])
    assert not HashSet.build(np.empty(0, dtype=np.uint64)).contains(probe).any()
