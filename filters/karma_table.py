"""The karma table, the one format ``karma build`` writes and the ``karma`` URL filter reads.

``TABLE_DIR/karma-part-BBBBB.parquet``, one URL hash bucket each (every URL in exactly one part, each part sorted
by URL), read together: ``url`` (normalized key), ``karma``, ``posts``, ``subreddits``, ``first_seen``; the
schema metadata under :data:`META_KEY` records how it was built (``min_karma``, ``aggregate``, the options).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from corpus_forge.cache import cached
from corpus_forge.io import file_identity

PART_GLOB = "karma-part-*.parquet"  # the table's hash buckets, read together
META_KEY = b"corpus_forge.karma"
TABLE_SCHEMA = pa.schema([("url", pa.string()), ("karma", pa.int64()), ("posts", pa.int64()),
                          ("subreddits", pa.list_(pa.string())),
                          ("first_seen", pa.timestamp("s", tz="UTC"))])


class KarmaTable:
    """Normalized URL → karma, held as sorted 64-bit hashes (16 bytes a URL) for compact lookups.

    A false match needs a 64-bit hash collision: for a 25M-URL table, about one in 7·10^11 lookups.
    """

    def __init__(self, urls: list[str], karma: np.ndarray, min_karma: int | None = None) -> None:
        import xxhash

        h = np.fromiter((xxhash.xxh3_64_intdigest(u.encode()) for u in urls), dtype=np.uint64, count=len(urls))
        order = np.argsort(h, kind="stable")
        self.hashes = h[order]
        self.karma = np.asarray(karma, dtype=np.int64)[order]
        self.min_karma = min_karma

    def __len__(self) -> int:
        return len(self.hashes)

    @classmethod
    def load(cls, path: str) -> KarmaTable:
        """Read a table written by ``karma build``: ``TABLE_DIR`` (all its ``karma-part-*.parquet``) or one
        Parquet file of that schema."""
        import fsspec
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for file in table_files(path):
            with fsspec.open(file, "rb") as f:
                tables.append(pq.read_table(f, columns=["url", "karma"]))
        meta = (tables[0].schema.metadata or {}).get(META_KEY)
        min_karma = json.loads(meta).get("min_karma") if meta else None
        t = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        karma = t["karma"].to_numpy(zero_copy_only=False)
        return cls(t["url"].to_pylist(), karma, min_karma)

    def lookup_keys(self, keys: list[str | None]) -> np.ndarray:
        """Karma per normalized key; -1 where the key is missing (None) or not in the table."""
        import xxhash

        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(self.hashes):
            return out
        idx = [i for i, k in enumerate(keys) if k is not None]
        if not idx:
            return out
        h = np.fromiter((xxhash.xxh3_64_intdigest(keys[i].encode()) for i in idx), dtype=np.uint64, count=len(idx))
        pos = np.searchsorted(self.hashes, h)
        pos_c = np.minimum(pos, len(self.hashes) - 1)
        hit = self.hashes[pos_c] == h
        out[np.asarray(idx)[hit]] = self.karma[pos_c[hit]]
        return out

    def get(self, key: str | None) -> int | None:
        """Karma of one normalized key, or None."""
        if key is None or not len(self.hashes):
            return None
        import xxhash

        h = np.uint64(xxhash.xxh3_64_intdigest(key.encode()))
        i = int(np.searchsorted(self.hashes, h))
        if i < len(self.hashes) and self.hashes[i] == h:
            return int(self.karma[i])
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
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(table_files(path)[0], "rb") as f:
        meta = (pq.read_schema(f).metadata or {}).get(META_KEY)
    return json.loads(meta).get("min_karma") if meta else None


def load_karma_table(path: str) -> KarmaTable:
    """The table at ``path``, loaded once per process (reloaded if a file of it changes)."""
    files = table_files(path)
    key = tuple(x for f in files for x in file_identity(f))
    return cached("karma.table", key, lambda: KarmaTable.load(path))


