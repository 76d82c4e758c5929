"""Phase 1 of dedup, one pure task per input file: normalized text -> exact hash, MinHash band keys, keeper rank.

Writes ``_work/meta/<i>.parquet`` (gid, id, exact hash, keeper rank, shingle count) and
``_work/bands/<i>.parquet`` (band key, gid, exact hash). ``gid = file index << 32 | row`` names a document in
8 bytes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus_forge.heap import release_freed_memory
from corpus_forge.io import path_exists, write_parquet_atomic
from corpus_forge.stage import Partition, read_partition
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import TextNorm, exact_hashes, normalize_batch

_NULL_KEY = "\U0010ffff"  # sorts after every real value: missing values never win


def _sortable_float(values: np.ndarray, descending: bool) -> list[str]:
    """Fixed-width hex strings whose string order is the numeric order (NaN last)."""
    v = np.where(np.isnan(values), np.nan, -values if descending else values)
    bits = np.ascontiguousarray(np.nan_to_num(v, nan=0.0)).view(np.uint64)
    neg = (bits >> np.uint64(63)).astype(bool)
    key = np.where(neg, ~bits, bits | np.uint64(1 << 63))
    out = [f"{k:016x}" for k in key.tolist()]
    return [_NULL_KEY if nan else s for s, nan in zip(out, np.isnan(v).tolist(), strict=True)]


def rank_keys(table: pa.Table, keep_order: list[str]) -> list[str]:
    """One string per document whose ascending order is the keeper order (smallest wins).

    Numbers and dates may be ranked highest first (``-column``), strings only lowest first; missing
    columns and nulls never win; the document id always breaks ties.
    """
    n = table.num_rows
    parts: list[list[str]] = []
    order = [k for k in keep_order if k.lstrip("-") != "id"] + ["id"]
    for spec in order:
        name, desc = spec.lstrip("-"), spec.startswith("-")
        if name not in table.column_names:
            parts.append([_NULL_KEY] * n)
            continue
        col = table.column(name)
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            col = col.cast(pa.timestamp("us")).cast(pa.int64())
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
            vals = np.array([np.nan if x is None else float(x) for x in col.to_pylist()], dtype=float)
            parts.append(_sortable_float(vals, desc))
        else:
            if desc:
                raise ValueError(f"keep_order {spec!r}: highest-first needs a numeric or date column")
            vals = [x.replace("\x00", "") if isinstance(x, str) else x for x in col.cast(pa.string()).to_pylist()]
            parts.append([_NULL_KEY if x is None else x for x in vals])
    return ["\x00".join(t) for t in zip(*parts, strict=True)]


def sign_table(table: pa.Table, index: int, cfg: DedupConfig) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Phase 1 on one table: ``(meta, bands, text_bytes)``.

    ``meta``: gid, id, exact_hash, rank, n_shingles per document. ``bands``: key, gid, exact_hash per
    document and band (documents without words have none).
    """
    hasher = cfg.hasher()
    n = table.num_rows
    gid = (np.int64(index) << np.int64(32)) + np.arange(n, dtype=np.int64)
    ids = table.column("id").cast(pa.string()).to_pylist()
    exact = np.zeros(n, dtype=np.int64)
    n_sh = np.zeros(n, dtype=np.int32)
    keys: list[np.ndarray] = []
    texts = table.column("text")
    text_bytes = 0
    for lo in range(0, n, cfg.batch_docs):
        batch = texts.slice(lo, cfg.batch_docs)
        text_bytes += int(pc.sum(pc.binary_length(batch)).as_py() or 0)
        codes, offsets = hasher.normalize(batch)
        if cfg.exact_normalization == "whitespace":
            ws_codes, ws_offsets = normalize_batch(batch, TextNorm(False, False, False, False))
            exact[lo: lo + len(batch)] = exact_hashes(ws_codes, ws_offsets)
        else:
            exact[lo: lo + len(batch)] = exact_hashes(codes, offsets)
        if cfg.fuzzy:
            hashes, sh_off = hasher.shingles(codes, offsets)
            n_sh[lo: lo + len(batch)] = np.diff(sh_off)
            keys.append(hasher.band_hashes(hasher.signatures_from_shingles(hashes, sh_off)))
    meta = pd.DataFrame({"gid": gid, "id": ids, "exact_hash": exact,
                         "rank": rank_keys(table, cfg.keep_order), "n_shingles": n_sh, "prior": np.zeros(n, bool)})
    if cfg.fuzzy and n:
        key = np.concatenate(keys)  # (n, bands)
        has = n_sh > 0
        b = key[has].shape[1]
        bands = pd.DataFrame({"key": key[has].ravel(), "gid": np.repeat(gid[has], b),
                              "exact_hash": np.repeat(exact[has], b)})
    else:
        bands = pd.DataFrame({"key": np.zeros(0, np.int64), "gid": np.zeros(0, np.int64),
                              "exact_hash": np.zeros(0, np.int64)})
    return meta, bands, text_bytes


def sign_partition(part: Partition, index: int, cfg: DedupConfig, work_dir: str) -> dict[str, Any]:
    """Phase 1 task: sign one input file into ``work_dir``; skipped when its outputs exist."""
    meta_path = os.path.join(work_dir, "meta", f"{index:06d}.parquet")
    bands_path = os.path.join(work_dir, "bands", f"{index:06d}.parquet")
    if path_exists(meta_path) and path_exists(bands_path):
        return {"index": index, "skipped": True, "documents": parquet_rows(meta_path)}
    t0 = time.perf_counter()
    try:  # a file that cannot be read or signed fails alone; the filter phase names it
        meta, bands, nbytes = sign_table(read_partition(part), index, cfg)
    except Exception as err:
        return {"index": index, "input": part.path, "error": f"{type(err).__name__}: {err}"}
    write_parquet_atomic(pa.Table.from_pandas(bands, preserve_index=False), bands_path)
    write_parquet_atomic(pa.Table.from_pandas(meta, preserve_index=False), meta_path)
    documents, seconds = len(meta), time.perf_counter() - t0
    del meta, bands
    release_freed_memory(seconds)
    return {"index": index, "documents": documents, "bytes": nbytes, "seconds": seconds}


def parquet_rows(path: str) -> int:
    """Rows of a Parquet file, from its footer."""
    import fsspec

    with fsspec.open(path, "rb") as f:
        return int(pq.ParquetFile(f).metadata.num_rows)
