"""Deterministic document sampling by hash: the same documents for any partitioning or number of workers.

Each document gets two uniform draws from its id and the seed: one decides the held-out candidates, the
other orders the rest for training. The global sample is "the smallest training draws up to N bytes", so a
partition can keep just its documents below a rate (and at most N bytes of them) and the union of what the
partitions keep always contains the global sample.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def id_hash(doc_id: str) -> int:
    """A 64-bit hash of a document id (blake2b)."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def id_hashes(ids: list[str]) -> np.ndarray:
    return np.fromiter((id_hash(i) for i in ids), dtype=np.uint64, count=len(ids))


def mix64(h: np.ndarray, *salts: int) -> np.ndarray:
    """splitmix64 of ``h`` combined with integer salts (seed, epoch, purpose): fast, vectorised, stable."""
    x = np.asarray(h, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        for s in salts:
            x ^= np.uint64((s * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
            x += np.uint64(0x9E3779B97F4A7C15)
            x ^= x >> np.uint64(30)
            x *= np.uint64(0xBF58476D1CE4E5B9)
            x ^= x >> np.uint64(27)
            x *= np.uint64(0x94D049BB133111EB)
            x ^= x >> np.uint64(31)
    return x & _MASK


def unit(h: np.ndarray, *salts: int) -> np.ndarray:
    """Uniform draws in [0, 1) from hashes and salts (53 bits)."""
    return (mix64(h, *salts) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# purposes, so the draws for different decisions are independent
TRAIN, HELDOUT, VAL, ORDER = 1, 2, 3, 4
