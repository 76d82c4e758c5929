"""MinHash signatures over word n-gram shingles of normalized text, for whole batches of documents at once.

For a batch (a list of strings or a pyarrow string column):

1. :func:`normalize_batch`: one code-point table does lowercasing, diacritic folding (``é`` -> ``e``: a
   character whose canonical decomposition is a base plus combining marks becomes the base) and classes
   (whitespace, punctuation and symbols become a space; a run of digits becomes ``0``; combining marks are
   dropped), then runs of spaces are squeezed and both ends stripped -- datatrove's ``simplify_text``
   defaults. The result is one uint32 code-point array plus per-document offsets.
2. :meth:`MinHasher.shingles`: every word n-gram (default 5, FineWeb) becomes a 64-bit hash: each word a
   polynomial hash of its code points mod 2^64 (``sum (c_j + 1) P^(e-1-j)``), the n word hashes combined
   polynomially (``sum w_t Q^(n-1-t)``), mixed by the splitmix64 finalizer. A document shorter than ``n``
   words is one shingle; one without words has none.
3. :meth:`MinHasher.signatures_from_shingles`: ``num_perm`` hash functions
   ``h_k(x) = ((a_k x + b_k) mod 2^64) >> 32`` (multiply-add-shift, Dietzfelbinger 1996; ``a_k`` odd) and
   each one's minimum over a document's shingles: uint32 signatures.
4. :meth:`MinHasher.band_hashes`: ``bands`` bands of ``rows`` values, each hashed to one 64-bit key with the
   band index mixed in, so all bands share one shuffle key space.

Every step has a numba kernel (used when numba is installed: one pass, no big temporaries, the GIL
released) and a numpy version; both give identical results (tested). Defaults follow FineWeb (datatrove
``MinhashConfig``): 5-grams, 14 bands x 8 rows = 112 permutations; :func:`lsh_params` derives bands x rows
from a Jaccard threshold instead (datasketch's rule).
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from pipelines.dedup.kernels import kernels

EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a document with no shingles
_P = np.uint64(0x100000001B3)  # the FNV-64 prime: odd, so the polynomial hash is well spread mod 2^64
_Q = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier combining word hashes into a shingle hash
_KEEP, _SPACE, _DIGIT, _DROP = 0, 1, 2, 3  # what normalization does with a code point


@dataclass(frozen=True)
class TextNorm:
    """How text is simplified before hashing (datatrove ``TextNormConfig`` defaults).

    Whitespace is always collapsed to single spaces and stripped at both ends.
    """

    lowercase: bool = True
    numbers: bool = True  # every run of digits becomes ``0``
    punctuation: bool = True  # punctuation and symbols become spaces
    diacritics: bool = True  # ``café`` -> ``cafe``; stray combining marks dropped


DEFAULT_NORM = TextNorm()
WHITESPACE_ONLY = TextNorm(lowercase=False, numbers=False, punctuation=False, diacritics=False)


@lru_cache(maxsize=4)
def norm_tables(norm: TextNorm) -> tuple[np.ndarray, np.ndarray]:
    """``(code_map uint32, action uint8)`` over every code point for ``norm`` (built once per process)."""
    n = sys.maxunicode + 1
    code_map = np.arange(n, dtype=np.uint32)
    action = np.zeros(n, dtype=np.uint8)
    # planes 4-13 and 15-16 hold no assigned characters (unassigned and private use map to themselves)
    for c in itertools.chain(range(0x40000), range(0xE0000, 0xF0000)):
        ch = chr(c)
        cat = unicodedata.category(ch)
        if cat in ("Cs", "Cn", "Co"):
            continue
        if norm.lowercase:
            low = ch.lower()
            if len(low) == 1:
                ch = low
        if norm.diacritics and not ch.isascii():
            dec = unicodedata.normalize("NFD", ch)
            if len(dec) > 1 and all(unicodedata.category(x) == "Mn" for x in dec[1:]):
                ch = dec[0].lower() if norm.lowercase and len(dec[0].lower()) == 1 else dec[0]
        code_map[c] = ord(ch)
        cat = unicodedata.category(ch)
        if ch.isspace() or (norm.punctuation and cat[0] in "PSZ"):
            action[c] = _SPACE
        elif norm.numbers and cat == "Nd":
            action[c] = _DIGIT
        elif norm.diacritics and cat == "Mn":
            action[c] = _DROP
    return code_map, action


# ---------------------------------------------------------------------------------------------------
# normalization

def _utf8_buffers(texts: Any) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all documents and byte offsets, from a list of str or a pyarrow string array."""
    import pyarrow as pa

    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
        if arr.null_count:
            arr = arr.fill_null("")
        if pa.types.is_string(arr.type):
            arr = arr.cast(pa.large_string())
        _, off_buf, data_buf = arr.buffers()
        offs = np.frombuffer(off_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        return data, offs
    raw = [(t or "").encode("utf-8", "surrogatepass") for t in texts]
    offs = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in raw], out=offs[1:])
    return np.frombuffer(b"".join(raw), dtype=np.uint8), offs


def normalize_batch(texts: Any, norm: TextNorm = DEFAULT_NORM,
                    use_numba: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Normalize a batch: uint32 code points of all documents and ``offsets`` (``len(texts) + 1``).

    Document ``d`` is ``codes[offsets[d]:offsets[d+1]]``; :func:`normalize` returns one as a string.
    ``texts`` is a list of str (None counts as empty) or a pyarrow string column.
    """
    code_map, action = norm_tables(norm)
    data, boff = _utf8_buffers(texts)
    k = kernels() if use_numba else None
    if k is not None:
        out = np.empty(max(len(data), 1), dtype=np.uint32)
        out_off = np.empty(len(boff), dtype=np.int64)
        used = k["normalize"](data, boff, code_map, action, out, out_off)
        return out[:used].copy(), out_off
    return _normalize_numpy(data, boff, code_map, action)


def _normalize_numpy(data: np.ndarray, boff: np.ndarray, code_map: np.ndarray,
                     action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    raw = data.tobytes()
    docs = [raw[boff[d]: boff[d + 1]].decode("utf-8", "surrogatepass") for d in range(len(boff) - 1)]
    lengths = np.fromiter((len(t) for t in docs), dtype=np.int64, count=len(docs))
    cps = np.frombuffer("".join(docs).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cps = np.where((cps >= 0xD800) & (cps < 0xE000), np.uint32(0xFFFD), cps)  # lone surrogates
    doc = np.repeat(np.arange(len(docs)), lengths)
    act = action[cps]
    keep = act != _DROP
    cps, act, doc = code_map[cps][keep], act[keep], doc[keep]
    space, digit = act == _SPACE, act == _DIGIT
    same_prev = np.concatenate(([False], doc[1:] == doc[:-1]))
    prev_space = np.concatenate(([False], space[:-1])) & same_prev
    prev_digit = np.concatenate(([False], digit[:-1])) & same_prev
    drop = (space & (prev_space | ~same_prev)) | (digit & prev_digit)
    cps = np.where(space, np.uint32(32), np.where(digit, np.uint32(48), cps))
    cps, doc, space = cps[~drop], doc[~drop], space[~drop]
    end_space = space & np.concatenate((doc[1:] != doc[:-1], [True]))
    cps, doc = cps[~end_space], doc[~end_space]
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=len(docs)), out=offsets[1:])
    return cps.astype(np.uint32), offsets


def normalize(text: str, norm: TextNorm = DEFAULT_NORM) -> str:
    """One document through :func:`normalize_batch`, as a string (for inspection and tests)."""
    codes, _ = normalize_batch([text], norm)
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


def exact_hashes(codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """A signed 64-bit content hash of each normalized document in a batch (xxh3-64 of its code
    points; blake2b when xxhash is not installed)."""
    try:
        from xxhash import xxh3_64_intdigest as digest
    except ImportError:  # pragma: no cover - xxhash ships with the project's dependencies
        def digest(b: memoryview) -> int:
            return int.from_bytes(hashlib.blake2b(b, digest_size=8).digest(), "little")
    mv = memoryview(np.ascontiguousarray(codes)).cast("B")
    bounds = (4 * offsets).tolist()
    out = np.fromiter((digest(mv[a:b]) for a, b in itertools.pairwise(bounds)),
                      dtype=np.uint64, count=len(offsets) - 1)
    return out.view(np.int64)


# ---------------------------------------------------------------------------------------------------
# LSH parameters

def _fp_fn(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    """False-positive and false-negative mass of the S-curve ``1-(1-s^r)^b`` around ``threshold``."""
    xs = np.linspace(0.0, 1.0, 1001)
    p = 1.0 - (1.0 - xs**rows) ** bands
    below, above = xs <= threshold, xs >= threshold
    fp = np.trapezoid(p[below], xs[below]) if below.sum() > 1 else 0.0
    fn = np.trapezoid(1.0 - p[above], xs[above]) if above.sum() > 1 else 0.0
    return float(fp), float(fn)


def lsh_params(threshold: float, num_perm: int = 112, fp_weight: float = 0.5,
               fn_weight: float = 0.5) -> tuple[int, int]:
    """Bands x rows (``bands * rows <= num_perm``) minimising weighted false positive and negative mass
    at ``threshold`` -- the rule of datasketch's ``MinHashLSH._optimal_param``."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp, fn = _fp_fn(threshold, b, r)
            err = fp * fp_weight + fn * fn_weight
            if err < best_err:
                best, best_err = (b, r), err
    return best


def candidate_probability(jaccard: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents with this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - np.asarray(jaccard, dtype=float) ** rows) ** bands


# ---------------------------------------------------------------------------------------------------
# shingles, signatures, bands

def _splitmix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@lru_cache(maxsize=4)
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P^i`` and ``P^-i`` mod 2^64 for ``i < n``."""
    pinv = pow(int(_P), -1, 1 << 64)
    up = np.full(n, _P, dtype=np.uint64)
    up[0] = 1
    down = np.full(n, np.uint64(pinv), dtype=np.uint64)
    down[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(up), np.cumprod(down)


@dataclass(frozen=True)
class MinHasher:
    """Shingles, signatures and band hashes for batches of documents; picklable, deterministic per seed."""

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    norm: TextNorm = DEFAULT_NORM
    use_numba: bool = True
    _perm: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.bands < 1 or self.rows < 1:
            raise ValueError("ngram, bands and rows must be >= 1")
        rng = np.random.Generator(np.random.PCG64(self.seed))
        a = rng.integers(0, 2**64 - 1, size=self.num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
        b = rng.integers(0, 2**64 - 1, size=self.num_perm, dtype=np.uint64, endpoint=True)
        object.__setattr__(self, "_perm", (a, b))

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def _kernels(self) -> dict[str, Any] | None:
        return kernels() if self.use_numba else None

    def normalize(self, texts: Any) -> tuple[np.ndarray, np.ndarray]:
        """:func:`normalize_batch` with this hasher's normalization."""
        return normalize_batch(texts, self.norm, self.use_numba)

    def shingles(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """64-bit hashes of every word n-gram of a normalized batch, and their per-document offsets.

        Document ``d``'s shingles are ``hashes[sh_off[d]:sh_off[d+1]]`` (repeats kept).
        """
        n_docs = len(offsets) - 1
        k = self._kernels()
        if k is not None:
            words_max = len(codes) // 2 + n_docs + 1
            out = np.empty(max(words_max, 1), dtype=np.uint64)
            sh_off = np.empty(n_docs + 1, dtype=np.int64)
            used = k["shingles"](codes, offsets, self.ngram, out, sh_off)
            return out[:used], sh_off
        return self._shingles_numpy(codes, offsets)

    def _shingles_numpy(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_docs, n = len(offsets) - 1, len(codes)
        if n == 0:
            return np.zeros(0, np.uint64), np.zeros(n_docs + 1, np.int64)
        is_sep = codes == 32
        boundary = np.zeros(n + 1, dtype=bool)
        boundary[offsets] = True
        word = ~is_sep
        starts = np.flatnonzero(word & (boundary[:-1] | np.concatenate(([True], is_sep[:-1]))))
        ends = np.flatnonzero(word & (boundary[1:] | np.concatenate((is_sep[1:], [True])))) + 1
        doc_of_word = np.searchsorted(offsets, starts, side="right") - 1
        words_per_doc = np.bincount(doc_of_word, minlength=n_docs)
        first_word = np.concatenate(([0], np.cumsum(words_per_doc)[:-1]))
        n_sh = np.where(words_per_doc > 0, np.maximum(words_per_doc - self.ngram + 1, 1), 0)
        sh_off = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(n_sh, out=sh_off[1:])
        total = int(sh_off[-1])
        doc_of_sh = np.repeat(np.arange(n_docs), n_sh)
        local = np.arange(total) - sh_off[doc_of_sh]
        w_first = first_word[doc_of_sh] + local
        up, down = _powers(1 << (n + 1).bit_length())
        with np.errstate(over="ignore"):
            # word hash sum_{j=s}^{e-1} (c_j+1) P^(e-1-j) = P^(e-1) (G[e] - G[s]), G[i] = sum_{j<i} (c_j+1) P^-j
            g = np.zeros(n + 1, dtype=np.uint64)
            np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * down[:n], out=g[1:])
            wh = up[ends - 1] * (g[ends] - g[starts])
            width = np.minimum(self.ngram, words_per_doc[doc_of_sh]).astype(np.uint64)
            z = np.zeros(total, dtype=np.uint64)
            for t in range(self.ngram):
                valid = np.uint64(t) < width
                z = np.where(valid, z * _Q + wh[np.minimum(w_first + t, len(wh) - 1)], z)
        return _splitmix64(z ^ width), sh_off

    def signatures_from_shingles(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """``(n_docs, num_perm)`` uint32 signatures; rows of documents without shingles are all EMPTY."""
        n_docs = len(offsets) - 1
        a, b = self._perm
        out = np.full((n_docs, self.num_perm), EMPTY, dtype=np.uint32)
        k = self._kernels()
        if k is not None:
            k["minhash"](hashes, offsets, a, b, out)
            return out
        nonempty = np.flatnonzero(np.diff(offsets) > 0)
        chunk = 4096  # shingles per step: a 4096 x num_perm uint64 temporary
        i = 0
        with np.errstate(over="ignore"):
            while i < len(nonempty):
                j = int(np.searchsorted(offsets[nonempty + 1], offsets[nonempty[i]] + chunk, side="right"))
                docs = nonempty[i: max(j, i + 1)]
                lo, hi = int(offsets[docs[0]]), int(offsets[docs[-1] + 1])
                vals = (hashes[lo:hi, None] * a[None, :] + b[None, :]) >> np.uint64(32)
                out[docs] = np.minimum.reduceat(vals, offsets[docs] - lo, axis=0)
                i = max(j, i + 1)
        return out

    def signatures(self, texts: Any) -> np.ndarray:
        """MinHash signatures of raw ``texts``: ``(len(texts), num_perm)`` uint32."""
        return self.signatures_from_shingles(*self.shingles(*self.normalize(texts)))

    def band_hashes(self, sigs: np.ndarray) -> np.ndarray:
        """``(n_docs, bands)`` int64 keys; equal keys mean equal bands (the band index is mixed in)."""
        n = sigs.shape[0]
        s = sigs.astype(np.uint64).reshape(n, self.bands, self.rows)
        seeds = _splitmix64(np.arange(self.bands, dtype=np.uint64) + np.uint64((self.seed & 0xFFFFFF) << 8))
        h = np.broadcast_to(seeds, (n, self.bands)).copy()
        with np.errstate(over="ignore"):
            for r in range(self.rows):
                h = _splitmix64(h * _P + s[:, :, r])
        return h.view(np.int64)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal signature values: an unbiased estimate of the shingle sets' Jaccard."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two shingle-hash multisets taken as sets."""
    ua, ub = np.unique(a), np.unique(b)
    if len(ua) == 0 and len(ub) == 0:
        return 1.0
    inter = len(np.intersect1d(ua, ub, assume_unique=True))
    return inter / (len(ua) + len(ub) - inter)
