"""Token shards in llm.c's layout, with a ``.idx`` sidecar of document starts.

A shard ``NAME.bin`` is a 1024-byte header of 256 little-endian int32 — ``[0]`` magic, ``[1]`` version,
``[2]`` token count, the rest zero — followed by the tokens (little-endian), exactly as llm.c's
``dev/data/data_common.py`` ``write_datafile`` writes it. There are two headers, llm.c's: GPT-2 (magic
20240520, version 1, uint16 tokens), used when every id fits in 16 bits, and LLaMA-3 (magic 20240801,
version 7, uint32 tokens); a reader refuses anything else. llm.c's ``dataloader.h`` (GPT-2),
``train_llama3.py`` (LLaMA-3), nanoGPT-style ``np.memmap(..., offset=1024)`` and modded-nanogpt read it.
``NAME.idx`` beside it holds uint64 token offsets of document starts (each points at an ``<|endoftext|>``
token), so a trainer can start windows at document boundaries.
``NAME.src`` holds one little-endian uint16 per ``.idx`` entry (same order): the index into the manifest's
``sources`` of that document's source (the tokens before the first start belong to the manifest entry's
``head_source``), so a trainer can count tokens trained per source. Sidecars are written before the ``.bin``,
whose presence marks the set complete.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus_forge.io import atomic_write, file_size, local_file, url_to_fs

MAGIC = 20240520  # GPT-2 header (llm.c dev/data/data_common.py HEADERS_INFO["gpt-2"])
LLAMA3_MAGIC = 20240801  # LLaMA-3 header (HEADERS_INFO["llama-3"])
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
GPT2_VERSION, LLAMA3_VERSION = 1, 7
# llm.c's two headers, by version: (magic, token dtype, name); nothing else is read or written
HEADERS: dict[int, tuple[int, np.dtype, str]] = {
    GPT2_VERSION: (MAGIC, np.dtype("<u2"), "gpt-2"),
    LLAMA3_VERSION: (LLAMA3_MAGIC, np.dtype("<u4"), "llama-3"),
}
VERSION_DTYPE: dict[int, np.dtype] = {v: h[1] for v, h in HEADERS.items()}


class ShardError(ValueError):
    """A shard file is malformed (bad magic, version, size) or disagrees with its sidecar."""


@dataclass(frozen=True)
class ShardHeader:
    version: int
    num_tokens: int

    @property
    def dtype(self) -> np.dtype:
        return VERSION_DTYPE[self.version]

    @property
    def magic(self) -> int:
        return HEADERS[self.version][0]

    @property
    def name(self) -> str:
        """``gpt-2`` or ``llama-3`` (llm.c's ``model_desc``)."""
        return HEADERS[self.version][2]


def version_for_vocab(vocab_size: int) -> int:
    """1 (GPT-2 header, uint16) when every id fits in 16 bits, else 7 (LLaMA-3 header, uint32)."""
    return GPT2_VERSION if vocab_size <= 1 << 16 else LLAMA3_VERSION


def read_header(path: str | Path) -> ShardHeader:
    """Parse and check the 1024-byte header (one of llm.c's two, and that the file size matches the count).

    ``path`` may be a URL (fsspec): only the header and the size are fetched."""
    fs, p = url_to_fs(path)
    with fs.open(p, "rb") as f:
        raw = f.read(HEADER_BYTES)
    if len(raw) < HEADER_BYTES:
        raise ShardError(f"{path}: {len(raw)} bytes, shorter than the {HEADER_BYTES}-byte header")
    header = np.frombuffer(raw, dtype="<i4")
    magic, version, n = int(header[0]), int(header[1]), int(header[2])
    if HEADERS.get(version, (None,))[0] != magic:
        raise ShardError(f"{path}: header magic {magic} version {version} is neither llm.c's GPT-2 "
                         f"({MAGIC}, {GPT2_VERSION}) nor LLaMA-3 ({LLAMA3_MAGIC}, {LLAMA3_VERSION}) token shard")
    if n < 0:
        raise ShardError(f"{path}: header says {n} tokens")
    expected = HEADER_BYTES + n * VERSION_DTYPE[version].itemsize
    size = file_size(path)
    if size != expected:
        raise ShardError(f"{path}: header says {n} tokens ({expected} bytes) but the file has {size} bytes")
    return ShardHeader(version, n)


def open_tokens(path: str | Path) -> np.memmap:
    """The shard's tokens as a read-only memmap (never the whole file in memory); a URL is memmapped from a
    local copy (:func:`corpus_forge.io.local_file`)."""
    local = local_file(path)
    h = read_header(local)
    if h.num_tokens == 0:
        return np.zeros(0, dtype=h.dtype)  # type: ignore[return-value]
    return np.memmap(local, dtype=h.dtype, mode="r", offset=HEADER_BYTES, shape=(h.num_tokens,))


def idx_path(shard: str | Path) -> str:
    """``NAME.idx`` beside ``NAME.bin`` (a string: local path or URL)."""
    s = str(shard)
    return (s[: -len(".bin")] if s.endswith(".bin") else s) + ".idx"


def read_idx(shard: str | Path) -> np.ndarray:
    """Document start offsets (uint64) from the ``.idx`` beside ``shard`` (local or URL)."""
    p = idx_path(shard)
    fs, q = url_to_fs(p)
    with fs.open(q, "rb") as f:
        raw = f.read()
    if len(raw) % 8:
        raise ShardError(f"{p}: {len(raw)} bytes is not a whole number of uint64 offsets")
    return np.frombuffer(raw, dtype="<u8").copy()


def src_path(shard: str | Path) -> str:
    """``NAME.src`` beside ``NAME.bin``: the source index (into the manifest's ``sources``) of each document."""
    s = str(shard)
    return (s[: -len(".bin")] if s.endswith(".bin") else s) + ".src"


def read_src(shard: str | Path) -> np.ndarray | None:
    """Per-document source indices (uint16, one per ``.idx`` entry) from ``NAME.src``, or None when absent."""
    from corpus_forge.io import path_exists

    p = src_path(shard)
    if not path_exists(p):
        return None
    fs, q = url_to_fs(p)
    with fs.open(q, "rb") as f:
        raw = f.read()
    if len(raw) % 2:
        raise ShardError(f"{p}: {len(raw)} bytes is not a whole number of uint16 source indices")
    return np.frombuffer(raw, dtype="<u2").copy()


def _atomic_write(path: Path, chunks: list[bytes | memoryview]) -> None:
    with atomic_write(path) as f:
        for c in chunks:
            f.write(c)


def write_shard(path: str | Path, tokens: np.ndarray, doc_starts: np.ndarray, version: int,
                doc_sources: np.ndarray | None = None) -> str:
    """Write ``NAME.bin`` (header + tokens), ``NAME.idx`` and, given ``doc_sources`` (one source index per
    document start), ``NAME.src`` atomically (local or URL); return the sha256 of the ``.bin``."""
    if version not in HEADERS:
        raise ShardError(f"{path}: version {version}; llm.c writes {GPT2_VERSION} (GPT-2) or {LLAMA3_VERSION} "
                         "(LLaMA-3)")
    dtype = VERSION_DTYPE[version]
    toks = np.asarray(tokens)
    if toks.size and int(toks.max()) > np.iinfo(dtype).max:
        raise ShardError(f"{path}: token id {int(toks.max())} does not fit version {version} ({dtype})")
    toks = toks.astype(dtype, copy=False)
    header = np.zeros(HEADER_INTS, dtype="<i4")
    if toks.size >= 1 << 31:
        raise ShardError(f"{path}: {toks.size} tokens; llm.c's int32 count holds fewer than 2**31")
    header[:3] = (HEADERS[version][0], version, toks.size)
    body = [header.tobytes(), memoryview(np.ascontiguousarray(toks)).cast("B")]
    digest = hashlib.sha256()
    for c in body:
        digest.update(c)
    _atomic_write(idx_path(path), [np.asarray(doc_starts, dtype="<u8").tobytes()])
    if doc_sources is not None:
        srcs = np.asarray(doc_sources)
        if srcs.size != np.asarray(doc_starts).size:
            raise ShardError(f"{path}: {srcs.size} document sources for {np.asarray(doc_starts).size} documents")
        if srcs.size and int(srcs.max()) > np.iinfo(np.uint16).max:
            raise ShardError(f"{path}: source index {int(srcs.max())} does not fit the uint16 .src")
        _atomic_write(src_path(path), [srcs.astype("<u2").tobytes()])
    _atomic_write(path, body)  # the .bin last: its presence marks the pair complete
    return digest.hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """sha256 of a file, local or URL, read in chunks."""
    h = hashlib.sha256()
    fs, p = url_to_fs(path)
    with fs.open(p, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
