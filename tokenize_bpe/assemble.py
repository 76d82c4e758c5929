"""Copy token ranges from ``pack``'s per-file token arrays into one output array, one file open at a time.

A shard (or a piece of a Megatron / nanoGPT split) takes its documents from many tokenized input files, in the
mix's order. :func:`gather` copies range ``i`` (``counts[i]`` tokens from ``src_offsets[i]`` of token file
``files[i]``) to ``dst_offsets[i]`` of the output, visiting the ranges grouped by file, so a task keeps at most
one memmap open however many files its documents come from (a shard of a mix over thousands of input files no
longer holds thousands of open maps), and each file is read in ascending offsets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from corpus_forge.io import local_file


def open_token_file(path: str) -> np.ndarray:
    """A read-only memmap of one work ``*.tokens.npy`` (a URL through its local copy)."""
    return np.load(local_file(path), mmap_mode="r")


def gather(token_files: list[str], files: np.ndarray, src_offsets: np.ndarray, dst_offsets: np.ndarray,
           counts: np.ndarray, out: np.ndarray, opener: Callable[[str], np.ndarray] | None = None) -> int:
    """Fill ``out`` from the ranges (see the module docstring); return how many files were opened."""
    opener = opener or open_token_file
    files = np.asarray(files, np.int64)
    order = np.lexsort((np.asarray(src_offsets), files))  # by file, then offset inside the file
    opened = 0
    i = 0
    while i < order.size:
        f = int(files[order[i]])
        j = i
        while j < order.size and files[order[j]] == f:
            j += 1
        tokens = opener(token_files[f])
        opened += 1
        for r in order[i:j]:
            n, s, d = int(counts[r]), int(src_offsets[r]), int(dst_offsets[r])
            out[d : d + n] = tokens[s : s + n]
        del tokens  # the map is released before the next file is opened
        i = j
    return opened
