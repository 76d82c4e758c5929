"""Megatron's indexed dataset (``MMapIndexedDataset``): ``PREFIX.bin`` of tokens and ``PREFIX.idx`` beside it.

As ``megatron.core.datasets.indexed_dataset`` writes and reads it (``_IndexWriter`` / ``_IndexReader``):

- ``PREFIX.bin``: the tokens of every sequence, back to back, in the index's dtype (little-endian), no header;
- ``PREFIX.idx``: ``b"MMIDIDX\\x00\\x00"``, ``<Q`` version 1, ``<B`` dtype code (8 = uint16, 4 = int32, ...),
  ``<Q`` sequence count, ``<Q`` document count (= documents + 1), then int32 sequence lengths (tokens), int64
  sequence pointers (byte offsets into the ``.bin``), int64 document indices (``0`` then the sequence index
  that ends each document).

We write one document per sequence, so the document indices are ``0, 1, ..., n``. The dtype follows the vocabulary
size as Megatron's builder (``tools/preprocess_data.py``: ``DType.optimal_dtype(tokenizer.vocab_size)``) picks
it: uint16 below 65,500 ids, else int32. Nothing here imports megatron-core; the tests read our files with it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from corpus_forge.io import url_to_fs

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# megatron.core.datasets.indexed_dataset.DType: the codes of the two dtypes the builder picks for tokens
DTYPE_CODES: dict[int, np.dtype] = {8: np.dtype("<u2"), 4: np.dtype("<i4")}
UINT16_BELOW = 65_500  # DType.optimal_dtype: uint16 when the cardinality is below this


class MegatronIndexError(ValueError):
    """A ``.idx`` is not a Megatron index, or disagrees with its ``.bin``."""


def dtype_code_for_vocab(vocab_size: int) -> int:
    """Megatron's choice (``DType.optimal_dtype``): 8 (uint16) when ``vocab_size < 65500``, else 4 (int32)."""
    return 8 if vocab_size < UINT16_BELOW else 4


def index_bytes(lengths: np.ndarray, code: int) -> bytes:
    """The ``.idx`` of one document per sequence with these token counts."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and int(lengths.max()) >= 1 << 31:
        raise MegatronIndexError(f"a document of {int(lengths.max())} tokens does not fit Megatron's int32 lengths")
    pointers = np.zeros(lengths.size, np.int64)
    if lengths.size:
        pointers[1:] = np.cumsum(lengths)[:-1] * DTYPE_CODES[code].itemsize
    n = lengths.size
    return b"".join([INDEX_HEADER, struct.pack("<Q", INDEX_VERSION), struct.pack("<B", code),
                     struct.pack("<Q", n), struct.pack("<Q", n + 1), lengths.astype("<i4").tobytes(),
                     pointers.astype("<i8").tobytes(), np.arange(n + 1, dtype="<i8").tobytes()])


@dataclass(frozen=True)
class MegatronIndex:
    code: int
    lengths: np.ndarray  # int32 tokens per sequence
    pointers: np.ndarray  # int64 byte offsets
    document_indices: np.ndarray  # int64

    @property
    def dtype(self) -> np.dtype:
        return DTYPE_CODES[self.code]


def read_index(path: str) -> MegatronIndex:
    """Parse and check a ``.idx`` (header, version, dtype code, sizes, pointers consistent with the lengths)."""
    fs, p = url_to_fs(path)
    with fs.open(p, "rb") as f:
        raw = f.read()
    if raw[:9] != INDEX_HEADER or len(raw) < 34:
        raise MegatronIndexError(f"{path}: not a Megatron index (no {INDEX_HEADER!r} header)")
    version, code, n, docs = struct.unpack("<QBQQ", raw[9:34])
    if version != INDEX_VERSION or code not in DTYPE_CODES:
        raise MegatronIndexError(f"{path}: index version {version}, dtype code {code} (we read version 1, "
                                 "codes 8 and 4)")
    expected = 34 + n * 4 + n * 8 + docs * 8
    if len(raw) != expected:
        raise MegatronIndexError(f"{path}: {len(raw)} bytes, expected {expected} for {n} sequences and {docs} "
                                 "documents")
    lengths = np.frombuffer(raw, "<i4", n, 34).astype(np.int64)
    pointers = np.frombuffer(raw, "<i8", n, 34 + 4 * n)
    doc_idx = np.frombuffer(raw, "<i8", docs, 34 + 12 * n)
    want = np.zeros(n, np.int64)
    if n:
        want[1:] = np.cumsum(lengths)[:-1] * DTYPE_CODES[code].itemsize
    if not np.array_equal(pointers, want):
        raise MegatronIndexError(f"{path}: sequence pointers do not follow the lengths")
    return MegatronIndex(int(code), lengths, pointers.copy(), doc_idx.copy())
