"""The karma table, the one format ``karma build`` writes and the ``karma`` URL filter reads.

``TABLE_DIR/karma-part-BBBBB.parquet``, one URL hash bucket each (every URL in exactly one part, each part sorted
by URL), read together: ``url`` (normalized key), ``karma``, ``posts``, ``subreddits``, ``first_seen``; the
schema metadata under :data:`META_KEY` records how it was built (``min_karma``, ``aggregate``, the options) and
its lookup index (``index``: ``digest``, ``rows``).

The lookup index, beside each part: ``karma-part-BBBBB.DIGEST.hash.npy`` (uint64 xxh3-64 of each URL key, sorted)
and ``karma-part-BBBBB.DIGEST.karma.npy`` (int64 karma in the same order); ``DIGEST`` (xxh3-64 of both arrays)
ties them to the part that names it, so a part replaced by another build never meets a stale index. The filter
memory-maps them (``np.load(mmap_mode="r")``): the pages live once per node in the page cache, whatever the
number of worker processes, and a lookup is a ``searchsorted`` that touches ~log2(rows) pages. A table from an
older build (no ``index`` in its metadata) gets its index built once per node from the Parquet (batch by batch,
URL bytes hashed straight from Arrow's buffers) into :func:`corpus_forge.io.cache_dir`, keyed by the part's
identity; the table itself is never written to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from corpus_forge.cache import cached
from corpus_forge.io import cache_dir, file_identity, local_file, path_exists, save_npy

PART_GLOB = "karma-part-*.parquet"  # the table's hash buckets, read together
INDEX_GLOB = "karma-part-*.npy"  # their lookup indexes
META_KEY = b"corpus_forge.karma"
TABLE_SCHEMA = pa.schema([("url", pa.string()), ("karma", pa.int64()), ("posts", pa.int64()),
                          ("subreddits", pa.list_(pa.string())),
                          ("first_seen", pa.timestamp("s", tz="UTC"))])
_SLICE = 1 << 16  # URLs hashed per slice (bounds the Python ints alive at once)


def url_hashes(urls: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """xxh3-64 of each URL key's UTF-8 bytes (uint64), read from Arrow's offsets and data buffers: no Python
    ``str`` per URL, memory O(slice) beyond the output. Null keys hash as empty."""
    from xxhash import xxh3_64_intdigest

    out = np.empty(len(urls), dtype=np.uint64)
    chunks = urls.chunks if isinstance(urls, pa.ChunkedArray) else [urls]
    at = 0
    for chunk in chunks:
        chunk = chunk.cast(pa.large_string())
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        raw = chunk.buffers()[2]
        data = memoryview(raw) if raw is not None else memoryview(b"")
        for s in range(0, len(chunk), _SLICE):
            lo, hi = offsets[s : s + _SLICE].tolist(), offsets[s + 1 : s + _SLICE + 1].tolist()
            out[at : at + len(hi)] = np.fromiter((xxh3_64_intdigest(data[a:b]) for a, b in zip(lo, hi, strict=True)),
                                                 dtype=np.uint64, count=len(hi))
            at += len(hi)
    return out


def key_hashes(keys: list[str]) -> np.ndarray:
    """The same hash as :func:`url_hashes`, of normalized keys given as strings (a partition's URLs)."""
    from xxhash import xxh3_64_intdigest

    return np.fromiter((xxh3_64_intdigest(k.encode()) for k in keys), dtype=np.uint64, count=len(keys))


def sorted_index(urls: pa.Array | pa.ChunkedArray, karma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes sorted, karma in that order): one part's lookup index."""
    h = url_hashes(urls)
    order = np.argsort(h, kind="stable")
    return h[order], np.asarray(karma, dtype=np.int64)[order]


def index_digest(hashes: np.ndarray, karma: np.ndarray) -> str:
    """xxh3-64 (hex) of an index's two arrays: the name that ties them to their part."""
    import xxhash

    d = xxhash.xxh3_64()
    d.update(np.ascontiguousarray(hashes, dtype="<u8").tobytes())
    d.update(np.ascontiguousarray(karma, dtype="<i8").tobytes())
    return d.hexdigest()


def index_paths(part_file: str, digest: str) -> tuple[str, str]:
    """The hash and karma ``.npy`` of a part's index with this digest."""
    stem = part_file[: -len(".parquet")] if part_file.endswith(".parquet") else part_file
    return f"{stem}.{digest}.hash.npy", f"{stem}.{digest}.karma.npy"


def write_index(part_file: str, hashes: np.ndarray, karma: np.ndarray) -> dict[str, object]:
    """Save a part's index beside it; returns the ``index`` entry for the part's metadata (written after)."""
    digest = index_digest(hashes, karma)
    hp, kp = index_paths(part_file, digest)
    save_npy(hp, hashes.astype("<u8", copy=False))
    save_npy(kp, karma.astype("<i8", copy=False))
    return {"hash": "xxh3_64", "digest": digest, "rows": len(hashes)}


def _read_meta(file: str) -> dict:
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(file, "rb") as f:
        meta = (pq.read_schema(f).metadata or {}).get(META_KEY)
    return json.loads(meta) if meta else {}


def _mapped(hash_path: str, karma_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays memory-mapped (a remote table: from this node's one copy, :func:`local_file`)."""
    h = np.load(local_file(hash_path), mmap_mode="r", allow_pickle=False)
    k = np.load(local_file(karma_path), mmap_mode="r", allow_pickle=False)
    if h.dtype != np.dtype("<u8") or k.dtype != np.dtype("<i8") or h.shape != k.shape or h.ndim != 1:
        raise ValueError(f"{hash_path}: not a karma index (dtypes {h.dtype}, {k.dtype}; shapes {h.shape}, {k.shape})")
    return h, k


def _iter_batches(file: str) -> Iterator[pa.RecordBatch]:
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(file, "rb") as f:
        yield from pq.ParquetFile(f).iter_batches(batch_size=_SLICE, columns=["url", "karma"])


def index_from_parquet(file: str) -> tuple[np.ndarray, np.ndarray]:
    """An older part's index, from its ``url`` and ``karma`` columns read batch by batch."""
    hs, ks = [], []
    for batch in _iter_batches(file):
        hs.append(url_hashes(batch.column("url")))
        ks.append(batch.column("karma").to_numpy(zero_copy_only=False).astype(np.int64))
    h = np.concatenate(hs) if hs else np.empty(0, dtype=np.uint64)
    k = np.concatenate(ks) if ks else np.empty(0, dtype=np.int64)
    order = np.argsort(h, kind="stable")
    return h[order], k[order]


def _node_index(file: str) -> tuple[np.ndarray, np.ndarray]:
    """An older part's index in this node's cache (built by the first process that needs it), memory-mapped;
    in this process's memory if the cache cannot be written."""
    import hashlib

    tag = hashlib.sha1(repr(file_identity(file)).encode()).hexdigest()[:20]
    hp, kp = index_paths(os.path.join(cache_dir(), f"{tag}-{os.path.basename(file)}"), "index")
    if not (os.path.exists(hp) and os.path.exists(kp)):
        h, k = index_from_parquet(file)
        try:
            save_npy(kp, k)
            save_npy(hp, h)
        except OSError:
            return h, k
    return _mapped(hp, kp)


def open_part(file: str) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
    """One part's (hashes, karma) index, memory-mapped, and its metadata."""
    meta = _read_meta(file)
    idx = meta.get("index") or {}
    if idx.get("digest"):
        hp, kp = index_paths(file, idx["digest"])
        if path_exists(hp) and path_exists(kp):
            h, k = _mapped(hp, kp)
            if len(h) == idx.get("rows"):
                return (h, k), meta
    return _node_index(file), meta


class KarmaTable:
    """Normalized URL → karma: per part, sorted 64-bit URL hashes and their karma, memory-mapped.

    Resident cost per process: the pages a lookup touches (shared through the page cache by every process of a
    node); on disk 16 bytes a URL. A false match needs a 64-bit hash collision: a key absent from a table of
    ``m`` URLs matches with probability m/2^64 per lookup, about 2.4·10^-12 for 45M URLs (one false keep per
    ~4·10^11 documents looked up, ~0.007 in a 3·10^9-page snapshot); two table URLs share a hash with
    probability m²/2^65 (5·10^-5 at 45M), which would give one of them the other's karma.
    """

    def __init__(self, parts: list[tuple[np.ndarray, np.ndarray]], min_karma: int | None = None) -> None:
        self.parts = [(h, k) for h, k in parts if len(h)]
        self.min_karma = min_karma

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self.parts)

    @classmethod
    def load(cls, path: str) -> KarmaTable:
        """Open a table written by ``karma build``: ``TABLE_DIR`` (all its ``karma-part-*.parquet``) or one
        Parquet file of that schema."""
        parts, min_karma = [], None
        for i, file in enumerate(table_files(path)):
            arrays, meta = open_part(file)
            parts.append(arrays)
            if i == 0:
                min_karma = meta.get("min_karma")
        return cls(parts, min_karma)

    def lookup_keys(self, keys: list[str | None]) -> np.ndarray:
        """Karma per normalized key; -1 where the key is missing (None) or not in the table."""
        out = np.full(len(keys), -1, dtype=np.int64)
        idx = np.array([i for i, k in enumerate(keys) if k is not None], dtype=np.int64)
        if not len(idx) or not self.parts:
            return out
        h = key_hashes([keys[i] for i in idx])
        for hashes, karma in self.parts:
            pos = np.minimum(np.searchsorted(hashes, h), len(hashes) - 1)
            hit = hashes[pos] == h
            out[idx[hit]] = karma[pos[hit]]
        return out

    def get(self, key: str | None) -> int | None:
        """Karma of one normalized key, or None."""
        k = int(self.lookup_keys([key])[0])
        return None if k < 0 else k


def part_name(bucket: int) -> str:
    """The file name of one hash bucket of the table."""
    return f"karma-part-{bucket:05d}.parquet"


def table_files(path: str) -> list[str]:
    """The Parquet file(s) of a table: ``path`` itself if a file, else the ``karma-part-*.parquet`` of
    ``TABLE_DIR`` (sorted); FileNotFoundError naming the folder when it holds none."""
    import fsspec

    fs, _, (p,) = fsspec.get_fs_token_paths(path)
    if not fs.isdir(p):
        return [path]
    parts = sorted(fs.glob(p.rstrip("/") + "/" + PART_GLOB))
    if not parts:
        raise FileNotFoundError(f"{path}: no {PART_GLOB} in it (not a `karma build` output folder?)")
    proto = path.split("://", 1)[0] + "://" if "://" in path else ""
    return [fs.unstrip_protocol(q) if proto else q for q in parts]


def table_min_karma(path: str) -> int | None:
    """The ``min_karma`` the table was built with (from its Parquet metadata), without reading it."""
    return _read_meta(table_files(path)[0]).get("min_karma")


def load_karma_table(path: str) -> KarmaTable:
    """The table at ``path``, opened once per process (reopened if a file of it changes)."""
    files = table_files(path)
    key = tuple(x for f in files for x in file_identity(f))
    return cached("karma.table", key, lambda: KarmaTable.load(path))
