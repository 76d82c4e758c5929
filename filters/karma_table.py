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


_WORDS = 3  # 8-byte words from the end of a URL that the bucket hash reads (where URLs of one site differ)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def url_buckets(urls: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """A bucket in ``[0, n)`` per URL from a hash of its length and last ``8 * _WORDS`` bytes (vectorized,
    one gather per 8-byte word; the same in every process, unlike Python's ``hash``), so the rows of one
    URL land in the same bucket in every partial. Only the spread matters: equal URLs always meet."""
    arr = urls.combine_chunks() if isinstance(urls, pa.ChunkedArray) else urls
    if n <= 1 or len(arr) == 0:
        return np.zeros(len(arr), dtype=np.int64)
    arr = arr.cast(pa.large_string())
    off = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    raw = arr.buffers()[2]
    pad = 8 * _WORDS  # zero bytes before the data, so that every word read lies inside the buffer
    data = np.zeros(pad + (raw.size if raw is not None else 0), np.uint8)
    if raw is not None and raw.size:
        data[pad:] = np.frombuffer(raw, np.uint8)
    # word[i] = data[i : i + 8] as a little-endian uint64: an overlapping, unaligned view (no copy)
    word = np.ndarray((len(data) - 7,), "<u8", data, 0, (1,))
    ends = off[1:] + pad
    length = off[1:] - off[:-1]
    h = length.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for j in range(1, _WORDS + 1):
        w = word[ends - 8 * j]
        inside = np.clip(length - 8 * (j - 1), 0, 8).astype(np.uint64)  # how many of its bytes are the URL's
        # those are its top bytes: keep them, zero the bytes of the URLs before
        mask = np.where(inside == 8, _ONES, ~(_ONES >> (inside * np.uint64(8))))
        h = (h ^ (w & mask) ^ np.uint64(j)) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    return ((h >> np.uint64(17)) % np.uint64(n)).astype(np.int64)


def url_bucket(key: str, n: int) -> int:
    """:func:`url_buckets` of one key, in Python integers (a single lookup without Arrow's per-call cost)."""
    if n <= 1:
        return 0
    u = key.encode()
    mask = (1 << 64) - 1
    h = (len(u) * 0x9E3779B97F4A7C15) & mask
    for j in range(1, _WORDS + 1):
        word = u[max(0, len(u) - 8 * j) : max(0, len(u) - 8 * (j - 1))].rjust(8, b"\0")  # bytes before: zero
        h = ((h ^ int.from_bytes(word, "little") ^ j) * 0xBF58476D1CE4E5B9) & mask
        h ^= h >> 31
    return (h >> 17) % n


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


def write_index(part_file: str, hashes: np.ndarray, karma: np.ndarray, bucket: int = 0,
                buckets: int = 1) -> dict[str, object]:
    """Save a part's index beside it; returns the ``index`` entry for the part's metadata (written after): the
    digest, the rows, and which of the build's :func:`url_buckets` the part holds (lookups go to that part)."""
    digest = index_digest(hashes, karma)
    hp, kp = index_paths(part_file, digest)
    save_npy(hp, hashes.astype("<u8", copy=False))
    save_npy(kp, karma.astype("<i8", copy=False))
    return {"hash": "xxh3_64", "digest": digest, "rows": len(hashes), "bucket": bucket, "buckets": buckets}


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

    def __init__(self, parts: list[tuple[np.ndarray, np.ndarray]], min_karma: int | None = None,
                 routed: bool = False) -> None:
        self.parts = parts
        self.min_karma = min_karma
        self.routed = routed  # part i holds url_buckets(key, len(parts)) == i: a key is looked up in one part

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self.parts)

    @classmethod
    def load(cls, path: str) -> KarmaTable:
        """Open a table written by ``karma build``: ``TABLE_DIR`` (all its ``karma-part-*.parquet``) or one
        Parquet file of that schema."""
        files = table_files(path)
        opened = [open_part(f) for f in files]
        buckets = [((m.get("index") or {}).get("bucket"), (m.get("index") or {}).get("buckets")) for _, m in opened]
        routed = buckets == [(i, len(files)) for i in range(len(files))]
        return cls([a for a, _ in opened], opened[0][1].get("min_karma"), routed)

    def lookup_keys(self, keys: list[str | None]) -> np.ndarray:
        """Karma per normalized key; -1 where the key is missing (None) or not in the table."""
        out = np.full(len(keys), -1, dtype=np.int64)
        idx = np.array([i for i, k in enumerate(keys) if k is not None], dtype=np.int64)
        if not len(idx) or not len(self):
            return out
        present = [keys[i] for i in idx]
        h = key_hashes(present)
        if self.routed:  # each key to its bucket's part only
            bucket = url_buckets(pa.array(present, pa.string()), len(self.parts))
            order = np.argsort(bucket, kind="stable")
            used, starts = np.unique(bucket[order], return_index=True)
            groups = zip(used.tolist(), np.split(order, starts[1:]), strict=True)
        else:
            groups = ((b, slice(None)) for b in range(len(self.parts)))
        for b, mine in groups:
            hashes, karma = self.parts[b]
            if not len(hashes):
                continue
            pos = np.minimum(np.searchsorted(hashes, h[mine]), len(hashes) - 1)
            hit = hashes[pos] == h[mine]
            out[idx[mine][hit]] = karma[pos[hit]]
        return out

    def get(self, key: str | None) -> int | None:
        """Karma of one normalized key, or None."""
        if key is None or not self.parts:
            return None
        h = np.uint64(key_hashes([key])[0])
        parts = [self.parts[url_bucket(key, len(self.parts))]] if self.routed else self.parts
        for hashes, karma in parts:
            i = int(np.searchsorted(hashes, h))
            if i < len(hashes) and hashes[i] == h:
                return int(karma[i])
        return None


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
