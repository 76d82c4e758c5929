"""Word n-grams for decontamination: normalization, stable 64-bit hashes, and a compact hash set.

Normalization follows GPT-3's decontamination (and lm-evaluation-harness's copy of it): lowercase,
delete punctuation and symbols (everything that is neither a letter, a digit nor whitespace), split on
whitespace. Word ``i`` of :func:`words` is the ``i``-th whitespace-delimited token of the original text
that keeps at least one letter or digit, so :func:`word_spans` maps n-gram positions back to characters.

Hashing is vectorised: each word is hashed once (xxh3-64), and the hash of the k words starting at ``i``
is a polynomial over those word hashes, computed for every ``i`` at once from one prefix sum
(arithmetic mod 2**64), then mixed with ``k`` so that windows of different lengths share one key space.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xxhash

# Not a letter/digit and not whitespace, or "_" (which ``\w`` counts as a word character).
_JUNK = re.compile(r"[^\w\s]|_")
_TOKEN = re.compile(r"\S+")

# The same normalization on UTF-8 bytes for ASCII: lowercase A-Z, ASCII whitespace (as str.split() sees
# it, \x1c-\x1f included) to a space, delete ASCII junk. Non-ASCII words take the str path.
_ASCII_TABLE = bytes(c + 32 if 65 <= c <= 90 else 32 if chr(c) in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f" else c
                     for c in range(256))
_ASCII_JUNK = bytes(c for c in range(128) if not (chr(c).isalnum() or chr(c).isspace()) or chr(c) == "_")

_P = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
_Q = pow(_P, -1, 1 << 64)
_K_SALT = 0xD6E8FEB86659FD93
_MASK = (1 << 64) - 1

_P_POW = np.ones(1, dtype=np.uint64)
_Q_POW = np.ones(1, dtype=np.uint64)


def _str_words(text: str) -> list[str]:
    return _JUNK.sub("", text.lower()).split()


def word_bytes(text: str) -> list[bytes]:
    """The normalized words of ``text`` as UTF-8 bytes (what gets hashed).

    Same words as lowercasing, deleting every character that is not a letter, digit or whitespace, and
    splitting on whitespace (only a Greek final sigma next to deleted punctuation may take the other
    form); done on bytes for ASCII words (about 2x faster on real pages), on str otherwise.
    """
    b = text.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE, _ASCII_JUNK)
    ws = b.split()
    if b.isascii():
        return ws
    out: list[bytes] = []
    for w in ws:
        if w.isascii():
            out.append(w)
        else:
            out.extend(x.encode("utf-8", "surrogatepass") for x in _str_words(w.decode("utf-8", "surrogatepass")))
    return out


def words(text: str) -> list[str]:
    """Lowercased words with punctuation and symbols deleted (``"Janet’s $2!"`` → ``["janets", "2"]``)."""
    return [w.decode("utf-8", "surrogatepass") for w in word_bytes(text)]


def normalize(text: str) -> str:
    """The normalized text: :func:`words` joined by single spaces."""
    return " ".join(words(text))


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character span in ``text`` of each word of :func:`words` (same order, same count)."""
    return [m.span() for m in _TOKEN.finditer(text) if _JUNK.sub("", m.group().lower())]


def word_hashes(ws: Sequence[bytes]) -> np.ndarray:
    """One stable 64-bit hash per word (xxh3-64 of its UTF-8 bytes)."""
    return np.fromiter(map(xxhash.xxh3_64_intdigest, ws), dtype=np.uint64, count=len(ws))


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**i`` and ``Q**i`` (mod 2**64) for ``i < n``; cached and grown by doubling."""
    global _P_POW, _Q_POW
    if len(_P_POW) < n:
        size = max(n, 2 * len(_P_POW), 1 << 16)
        p = np.full(size, _P, dtype=np.uint64)
        q = np.full(size, _Q, dtype=np.uint64)
        p[0] = q[0] = 1
        _P_POW, _Q_POW = np.cumprod(p), np.cumprod(q)  # uint64 arithmetic wraps: mod 2**64
    return _P_POW, _Q_POW


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, vectorised: spreads every input bit over the output."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def window_hashes(h: np.ndarray, k: int) -> np.ndarray:
    """Hash of every run of ``k`` consecutive words: ``out[i]`` covers words ``i .. i+k-1``.

    ``sum_j h[i+j] * P**(k-1-j)`` for all ``i`` from one prefix sum of ``h[m] * P**-m``, then mixed with
    ``k``. Equal word sequences give equal hashes wherever they occur.
    """
    n = len(h)
    if k <= 0 or n < k:
        return np.empty(0, dtype=np.uint64)
    p_pow, q_pow = _powers(n)
    c = np.empty(n + 1, dtype=np.uint64)
    c[0] = 0
    np.cumsum(h * q_pow[:n], out=c[1:])
    w = (c[k:] - c[:-k]) * p_pow[k - 1 : n]
    return mix64(w ^ np.uint64((k * _K_SALT) & _MASK))


def text_ngram_hashes(text: str, n: int, min_words: int) -> np.ndarray:
    """The n-gram hashes of one benchmark text: every n-gram, or the whole text as one window when it
    has ``min_words <= len < n`` words (GPT-3's practice for short items); none when shorter."""
    ws = word_bytes(text)
    if len(ws) >= n:
        return window_hashes(word_hashes(ws), n)
    if len(ws) >= max(min_words, 1):
        return window_hashes(word_hashes(ws), len(ws))
    return np.empty(0, dtype=np.uint64)


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy 2's hash-based unique is slower on 64-bit hashes)."""
    x = np.sort(x)
    if len(x) > 1:
        x = x[np.concatenate(([True], x[1:] != x[:-1]))]
    return x


def count_unique_sorted(x: np.ndarray) -> int:
    """Number of distinct values of an already sorted array."""
    return int(len(x) and 1 + np.count_nonzero(x[1:] != x[:-1]))


def bitmap_shift(n_keys: int, bits_per_key: int = 16) -> int:
    """The shift of a :class:`HashSet` bitmap of ~``bits_per_key`` bits a key (2^16 to 2^32 bits: ≤ 512 MiB)."""
    return 64 - int(min(max(np.ceil(np.log2(max(n_keys, 1) * bits_per_key)), 16), 32))


def sorted_bitmap(keys: np.ndarray, shift: int, chunk: int = 1 << 22) -> np.ndarray | None:
    """The bitmap of sorted unique ``keys`` (an array or a memmap), read ``chunk`` keys at a time (no temporary
    the size of ``keys``); None when ``keys`` turn out not sorted unique."""
    bitmap = np.zeros((1 << (64 - shift)) // 8, dtype=np.uint8)
    prev = None
    for s in range(0, len(keys), chunk):
        part = np.asarray(keys[s : s + chunk], dtype=np.uint64)
        if np.any(part[1:] <= part[:-1]) or (prev is not None and part[0] <= prev):
            return None
        prev = part[-1]
        idx = part >> np.uint64(shift)
        byte = (idx >> np.uint64(3)).astype(np.int64)
        bit = np.left_shift(np.uint8(1), (idx & np.uint64(7)).astype(np.uint8))
        first = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))  # byte is sorted with the keys
        bitmap[byte[first]] |= np.bitwise_or.reduceat(bit, first)
    return bitmap


@dataclass
class HashSet:
    """Sorted unique 64-bit keys plus a bitmap on their top bits that rejects most misses cheaply."""

    keys: np.ndarray  # uint64, sorted, unique
    bitmap: np.ndarray  # uint8, bit-packed; bit (key >> shift) is set for every key
    shift: int

    @classmethod
    def build(cls, keys: np.ndarray, bits_per_key: int = 16) -> HashSet:
        keys = sorted_unique(np.asarray(keys, dtype=np.uint64))
        shift = bitmap_shift(len(keys), bits_per_key)
        return cls(keys, sorted_bitmap(keys, shift), shift)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.bitmap.nbytes)

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, the index of its key in :attr:`keys`, or -1 when absent."""
        out = np.full(len(hashes), -1, dtype=np.int64)
        if not len(self.keys) or not len(hashes):
            return out
        idx = hashes >> np.uint64(self.shift)
        maybe = (self.bitmap[(idx >> np.uint64(3)).astype(np.int64)] >> (idx & np.uint64(7)).astype(np.uint8)) & 1
        cand = np.flatnonzero(maybe)
        if len(cand):
            pos = np.searchsorted(self.keys, hashes[cand])
            pos[pos == len(self.keys)] = 0
            hit = self.keys[pos] == hashes[cand]
            out[cand[hit]] = pos[hit]
        return out

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        return self.find(hashes) >= 0


@dataclass
class DocWords:
    """Word hashes of a batch of documents, concatenated: document ``d`` owns ``h[start[d]:start[d+1]]``."""

    h: np.ndarray  # uint64 word hashes
    start: np.ndarray  # int64, len = documents + 1

    @classmethod
    def from_texts(cls, texts: Iterable[str | None]) -> DocWords:
        lists = [word_bytes(t) if t else [] for t in texts]
        start = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in lists], out=start[1:])
        flat = [w for ws in lists for w in ws]
        return cls(word_hashes(flat), start)

    @cached_property
    def doc_of_word(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.start) - 1), np.diff(self.start))

    def windows(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(hashes, first-word positions) of the ``k``-word windows that stay inside one document."""
        w = window_hashes(self.h, k)
        if not len(w):
            return w, np.empty(0, dtype=np.int64)
        doc = self.doc_of_word
        pos = np.flatnonzero(doc[: len(w)] == doc[k - 1 :])
        return w[pos], pos
