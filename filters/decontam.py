"""Benchmark decontamination: an n-gram index over test items, matching, and GPT-3's excision.

- :class:`BenchmarkIndex` holds every n-gram hash of every benchmark item (plus, for items shorter than
  ``n`` words, the whole item as one window, GPT-3's practice), mapped back to the items it came from.
  It is numpy arrays only, so it pickles small and ships to workers once.
- :meth:`BenchmarkIndex.match` scans a batch of documents in one pass (each document's words are hashed
  once; every window length present in the index is one vectorised pass over those hashes).
- :func:`excise` is GPT-3's action (Brown et al. 2020, appendix C): remove each matched span and 200
  characters on either side, split the document there, drop pieces under 200 characters, and drop the
  whole document when it splits into more than 10 pieces.
- :func:`doc_frequencies` is the counting pass behind GPT-3's rule of ignoring benchmark n-grams that
  occur in more than 10 training documents (:meth:`BenchmarkIndex.without`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from filters.support.benchmarks import Benchmark
from filters.support.ngrams import DocWords, HashSet, count_unique_sorted, window_hashes

# GPT-3 (Brown et al. 2020, appendix C) defaults.
NGRAM = 13
MIN_WORDS = 8  # GPT-3 never used windows shorter than 8 words; shorter items are not indexed
EXCISE_WINDOW = 200
MIN_PIECE_CHARS = 200
MAX_PIECES = 10
MAX_NGRAM_DOCS = 10  # "ignore n-grams occurring in more than 10 training documents" (opt-in here)

# Removal reasons.
CONTAMINATED = "contaminated"  # action "drop"
TOO_MANY_PIECES = "contaminated_too_many_pieces"  # excision split it into more than max_pieces
NOTHING_LEFT = "contaminated_nothing_left"  # excision left no piece of min_piece_chars


@dataclass
class BenchmarkIndex:
    """N-gram hashes of benchmark items, each key mapped to the items (``items[ptr[i]:ptr[i+1]]``)."""

    n: int
    names: list[str]  # benchmark names; benchmark b owns global items item_start[b]:item_start[b+1]
    item_start: np.ndarray  # int64
    item_ids: list[str]
    hashes: HashSet
    ptr: np.ndarray  # int32 (int64 past 2**31 pairs), len(keys) + 1
    items: np.ndarray  # int32 global item numbers
    lengths: tuple[int, ...]  # window lengths present (n, and whole-item lengths of short items)
    key_length: np.ndarray  # uint8, window length of each key
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, benchmarks: Sequence[Benchmark], n: int = NGRAM, min_words: int = MIN_WORDS
    ) -> BenchmarkIndex:
        """Hash every text of every item in one vectorised pass (texts are the "documents" here)."""
        names, starts, ids, texts, owner = [], [0], [], [], []
        for b in benchmarks:
            if b.name in names:
                raise ValueError(f"benchmark {b.name!r} given twice")
            names.append(b.name)
            for item in b.items:
                for text in item.texts:
                    texts.append(text)
                    owner.append(len(ids))
                ids.append(item.id)
            starts.append(len(ids))
        item_start = np.array(starts, dtype=np.int64)
        owner_arr = np.array(owner, dtype=np.int32)
        dw = DocWords.from_texts(texts)
        nwords = np.diff(dw.start)
        w, p = dw.windows(n)
        hs, its, ks = [w], [owner_arr[dw.doc_of_word[p]]], [np.full(len(w), n, dtype=np.uint8)]
        short = np.flatnonzero((nwords >= max(min_words, 1)) & (nwords < n))
        for k in np.unique(nwords[short]).tolist():  # short texts: the whole text is one window
            docs = short[nwords[short] == k]
            hs.append(window_hashes(dw.h, k)[dw.start[docs]])
            its.append(owner_arr[docs])
            ks.append(np.full(len(docs), k, dtype=np.uint8))
        h, it, kk = np.concatenate(hs), np.concatenate(its), np.concatenate(ks)
        stats: dict[str, dict[str, int]] = {}
        indexed = np.zeros(len(ids), dtype=bool)
        indexed[it] = True
        for b, name in enumerate(names):
            lo, hi = item_start[b], item_start[b + 1]
            mine = (owner_arr >= lo) & (owner_arr < hi)
            stats[name] = {"items": int(hi - lo), "items_not_indexed": int((~indexed[lo:hi]).sum()),
                           "short_texts": int(np.isin(np.flatnonzero(mine), short).sum()),
                           "rows_skipped": benchmarks[b].skipped}
        # unique (hash, item) pairs, sorted by hash
        order = np.lexsort((it, h))
        h, it, kk = h[order], it[order], kk[order]
        if len(h):
            keep = np.ones(len(h), dtype=bool)
            keep[1:] = (h[1:] != h[:-1]) | (it[1:] != it[:-1])
            h, it, kk = h[keep], it[keep], kk[keep]
        return cls._from_pairs(n, names, item_start, ids, h, it, kk, stats)

    @classmethod
    def _from_pairs(cls, n, names, item_start, ids, h, it, kk, stats) -> BenchmarkIndex:
        first = np.ones(len(h), dtype=bool)
        first[1:] = h[1:] != h[:-1]
        starts = np.flatnonzero(first)
        ptr = np.append(starts, len(h)).astype(np.int32 if len(h) < 2**31 else np.int64)
        keys = h[starts]
        hashes = HashSet.build(keys)
        assert len(hashes.keys) == len(keys)
        key_length = kk[starts]
        lengths = tuple(sorted({int(x) for x in np.unique(key_length)}))
        for b, name in enumerate(names):
            mine = (it >= item_start[b]) & (it < item_start[b + 1])
            stats[name]["ngrams"] = count_unique_sorted(h[mine])
        return cls(n, names, item_start, ids, hashes, ptr, it.astype(np.int32), lengths, key_length, stats)

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def nbytes(self) -> int:
        """Memory of the arrays a worker holds (keys, bitmap, key→item map)."""
        return int(self.hashes.nbytes + self.ptr.nbytes + self.items.nbytes + self.key_length.nbytes
                   + self.item_start.nbytes)

    def bench_of_item(self, gid: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.item_start, gid, side="right") - 1

    def items_of_keys(self, key_idx: np.ndarray) -> np.ndarray:
        """Global item numbers of the given key indices (concatenated, unique)."""
        if not len(key_idx):
            return np.empty(0, dtype=np.int32)
        parts = [self.items[self.ptr[k] : self.ptr[k + 1]] for k in np.unique(key_idx)]
        return np.unique(np.concatenate(parts))

    def match(self, dw: DocWords) -> Matches:
        """Every window of every document that is a benchmark key, as parallel arrays."""
        docs, pos, lens, keys = [], [], [], []
        doc_of = dw.doc_of_word
        for k in self.lengths:
            w, p = dw.windows(k)
            found = self.hashes.find(w)
            hit = np.flatnonzero(found >= 0)
            if not len(hit):
                continue
            key = found[hit]
            ok = self.key_length[key] == k  # a key hashed with another length is a 2**-64 accident
            hit, key = hit[ok], key[ok]
            docs.append(doc_of[p[hit]])
            pos.append(p[hit] - dw.start[doc_of[p[hit]]])
            lens.append(np.full(len(hit), k, dtype=np.int64))
            keys.append(key)
        if not docs:
            z = np.empty(0, dtype=np.int64)
            return Matches(z, z, z, z)
        return Matches(*(np.concatenate(x).astype(np.int64) for x in (docs, pos, lens, keys)))

    def without(self, key_idx: np.ndarray) -> BenchmarkIndex:
        """A copy without the given keys (e.g. n-grams too common in the training data to mean leakage)."""
        drop = np.zeros(len(self), dtype=bool)
        drop[np.asarray(key_idx, dtype=np.int64)] = True
        per_pair = np.repeat(drop, np.diff(self.ptr))
        keys_pairs = np.repeat(self.hashes.keys, np.diff(self.ptr))
        kl_pairs = np.repeat(self.key_length, np.diff(self.ptr))
        stats = {k: dict(v) for k, v in self.stats.items()}
        for b, name in enumerate(self.names):
            mine = (self.items >= self.item_start[b]) & (self.items < self.item_start[b + 1])
            stats[name]["ngrams_ignored"] = count_unique_sorted(keys_pairs[mine & per_pair])
        keep = ~per_pair
        return BenchmarkIndex._from_pairs(self.n, self.names, self.item_start, self.item_ids,
                                          keys_pairs[keep], self.items[keep], kl_pairs[keep], stats)


@dataclass
class Matches:
    """Parallel arrays: document (in the batch), first word in the document, window length, key."""

    doc: np.ndarray
    pos: np.ndarray
    length: np.ndarray
    key: np.ndarray

    def by_doc(self) -> dict[int, Matches]:
        """The matches of each document that has any."""
        if not len(self.doc):
            return {}
        order = np.argsort(self.doc, kind="stable")
        doc, pos, length, key = self.doc[order], self.pos[order], self.length[order], self.key[order]
        docs, starts = np.unique(doc, return_index=True)
        ends = np.append(starts[1:], len(doc))
        return {int(d): Matches(doc[a:b], pos[a:b], length[a:b], key[a:b])
                for d, a, b in zip(docs.tolist(), starts.tolist(), ends.tolist(), strict=True)}


def doc_frequencies(index: BenchmarkIndex, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(key indices, number of documents in ``texts`` containing each): the counting pass."""
    m = index.match(DocWords.from_texts(texts))
    if not len(m.key):
        z = np.empty(0, dtype=np.int64)
        return z, z
    pairs = np.unique(np.stack([m.key, m.doc]), axis=1)  # each (key, doc) once
    keys, counts = np.unique(pairs[0], return_counts=True)
    return keys, counts


@dataclass
class Excision:
    """What :func:`excise` did to one document. ``text`` is None when the document is dropped."""

    text: str | None
    reason: str | None
    pieces: int  # pieces the split produced (before short ones were dropped)
    kept_pieces: int
    removed_chars: int


def match_char_spans(spans: Sequence[tuple[int, int]], m: Matches) -> list[tuple[int, int]]:
    """Character spans of a document's matched windows, from its :func:`~filters.support.ngrams.word_spans`."""
    return [(spans[p][0], spans[p + k - 1][1])
            for p, k in zip(m.pos.tolist(), m.length.tolist(), strict=True)]


def excise(
    text: str,
    spans: Sequence[tuple[int, int]],
    window: int = EXCISE_WINDOW,
    min_piece_chars: int = MIN_PIECE_CHARS,
    max_pieces: int = MAX_PIECES,
) -> Excision:
    """GPT-3's excision: cut each span ± ``window`` characters, split the document at the cuts.

    Pieces are what lies between cuts (whitespace-only stretches are not pieces). More than
    ``max_pieces`` pieces: the document is dropped. Pieces shorter than ``min_piece_chars`` (after
    stripping whitespace) are dropped; the rest are joined by a blank line into one document, so the
    document count is kept. No piece left: the document is dropped.
    """
    cuts = sorted((max(0, a - window), min(len(text), b + window)) for a, b in spans)
    merged: list[list[int]] = []
    for a, b in cuts:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    pieces, prev = [], 0
    for a, b in merged:
        pieces.append(text[prev:a])
        prev = b
    pieces.append(text[prev:])
    pieces = [p for p in pieces if p.strip()]
    if len(pieces) > max_pieces:
        return Excision(None, TOO_MANY_PIECES, len(pieces), 0, len(text))
    kept = [p.strip() for p in pieces if len(p.strip()) >= min_piece_chars]
    if not kept:
        return Excision(None, NOTHING_LEFT, len(pieces), 0, len(text))
    new = "\n\n".join(kept)
    return Excision(new, None, len(pieces), len(kept), len(text) - sum(len(p) for p in kept))
