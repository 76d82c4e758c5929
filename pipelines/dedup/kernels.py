"""The numba kernels of :mod:`pipelines.dedup.minhash` (normalize, shingle, MinHash), compiled on first use and
cached on disk; :func:`kernels` is None when numba is not installed (minhash then uses numpy, with identical
results, tested)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _build_kernels() -> dict[str, Any] | None:
    try:
        import numba
    except ImportError:
        return None
    jit = numba.njit(cache=True, nogil=True)

    @jit
    def normalize_utf8(data, boff, code_map, action, out, out_off):  # pragma: no cover - compiled
        """Decode UTF-8 (bad bytes -> U+FFFD), map, classify, squeeze and strip; returns length used."""
        o = 0
        for d in range(boff.shape[0] - 1):
            out_off[d] = o
            i, end = boff[d], boff[d + 1]
            last = -1  # what was written last in this document: -1 nothing, 1 space, 2 digit, 0 other
            while i < end:
                b0 = data[i]
                cp, step = 0xFFFD, 1
                if b0 < 0x80:
                    cp = b0
                elif b0 >= 0xC2 and b0 < 0xE0 and i + 1 < end and (data[i + 1] & 0xC0) == 0x80:
                    cp, step = ((b0 & 0x1F) << 6) | (data[i + 1] & 0x3F), 2
                elif (b0 & 0xF0) == 0xE0 and i + 2 < end and (data[i + 1] & 0xC0) == 0x80 \
                        and (data[i + 2] & 0xC0) == 0x80:
                    cp = ((b0 & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
                    step = 3
                elif b0 >= 0xF0 and b0 < 0xF5 and i + 3 < end and (data[i + 1] & 0xC0) == 0x80 \
                        and (data[i + 2] & 0xC0) == 0x80 and (data[i + 3] & 0xC0) == 0x80:
                    cp = ((b0 & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6) \
                        | (data[i + 3] & 0x3F)
                    step = 4
                if cp > 0x10FFFF or (cp >= 0xD800 and cp < 0xE000):
                    cp = 0xFFFD
                i += step
                act = action[cp]
                if act == 3:
                    continue
                if act == 1:
                    if last == 0 or last == 2:
                        out[o] = 32
                        o += 1
                        last = 1
                    continue
                if act == 2:
                    if last != 2:
                        out[o] = 48
                        o += 1
                        last = 2
                    continue
                out[o] = code_map[cp]
                o += 1
                last = 0
            if last == 1:
                o -= 1
        out_off[boff.shape[0] - 1] = o
        return o

    @jit
    def shingle_hashes(codes, offsets, ngram, out, sh_off):  # pragma: no cover - compiled
        """Word n-gram hashes per document (see module docstring); returns the count written."""
        n_docs = offsets.shape[0] - 1
        wh = np.empty(codes.shape[0] // 2 + 2, dtype=np.uint64)
        p = np.uint64(0x100000001B3)
        q = np.uint64(0x9E3779B97F4A7C15)
        o = 0
        for d in range(n_docs):
            sh_off[d] = o
            lo, hi = offsets[d], offsets[d + 1]
            nw = 0
            i = lo
            while i < hi:
                if codes[i] == 32:
                    i += 1
                    continue
                h = np.uint64(0)
                while i < hi and codes[i] != 32:
                    h = h * p + np.uint64(codes[i]) + np.uint64(1)
                    i += 1
                wh[nw] = h
                nw += 1
            if nw == 0:
                continue
            n_sh = max(nw - ngram + 1, 1)
            width = min(ngram, nw)
            for j in range(n_sh):
                z = np.uint64(0)
                for t in range(width):
                    z = z * q + wh[j + t]
                z = z ^ np.uint64(width)
                z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                out[o] = z ^ (z >> np.uint64(31))
                o += 1
        sh_off[n_docs] = o
        return o

    @jit
    def minhash(x, offsets, a, b, out):  # pragma: no cover - compiled
        k_count = a.shape[0]
        acc = np.empty(k_count, dtype=np.uint64)
        for d in range(offsets.shape[0] - 1):
            if offsets[d] == offsets[d + 1]:
                continue
            for k in range(k_count):
                acc[k] = 0xFFFFFFFF
            for i in range(offsets[d], offsets[d + 1]):
                xi = x[i]
                for k in range(k_count):
                    v = (a[k] * xi + b[k]) >> np.uint64(32)
                    if v < acc[k]:
                        acc[k] = v
            for k in range(k_count):
                out[d, k] = acc[k]

    return {"normalize": normalize_utf8, "shingles": shingle_hashes, "minhash": minhash}


_KERNELS: list = []


def kernels() -> dict[str, Any] | None:
    """The compiled kernels, or None when numba is not installed (numpy is used instead)."""
    if not _KERNELS:
        _KERNELS.append(_build_kernels())
    return _KERNELS[0]
