"""Phase 2 of dedup: candidate edges, as pure pandas functions mapped over shuffled Dask partitions.

Meta rows shuffled on the exact hash give an edge from every exact duplicate to its group's best document
(:func:`exact_edges`); band rows shuffled on the band key give candidate pairs of documents sharing a bucket
(:func:`bucket_pairs`); for verification, :func:`shingle_sets` reads each file holding candidates once and
:func:`pair_jaccard` computes each pair's true Jaccard after two joins on the document (bounded per task).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from corpus_forge.stage import Partition, read_partition
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.minhash import MinHasher

EDGES_META = pd.DataFrame({"u": pd.Series([], dtype="int64"), "v": pd.Series([], dtype="int64")})


def exact_edges(df: pd.DataFrame) -> pd.DataFrame:
    """Within each exact-hash group: an edge from every member to the group's best (smallest rank)."""
    if df.empty:
        return EDGES_META.copy()
    df = df.sort_values(["exact_hash", "rank", "gid"], kind="stable")
    rep = df.groupby("exact_hash", sort=False)["gid"].transform("first")
    m = df["gid"].to_numpy() != rep.to_numpy()
    return pd.DataFrame({"u": df["gid"].to_numpy()[m], "v": rep.to_numpy()[m]})


def bucket_pairs(df: pd.DataFrame, all_pairs: bool, max_bucket_pairs: int,
                 collapse_exact: bool = True) -> pd.DataFrame:
    """Candidate pairs ``u < v`` from band rows (key, gid, exact_hash) that share a key.

    With ``collapse_exact``, exact duplicates in a bucket count once (their exact edges connect them). A
    bucket yields all pairs when ``all_pairs`` and it has at most ``max_bucket_pairs`` members;
    otherwise a star from its smallest member plus a chain (enough to connect it, and to verify
    neighbours when verifying).
    """
    if df.empty:
        return EDGES_META.copy()
    df = df.sort_values(["key", "gid"], kind="stable")
    if collapse_exact:
        df = df.drop_duplicates(["key", "exact_hash"])
    size = df.groupby("key", sort=False)["gid"].transform("size").to_numpy()
    df = df[size > 1]
    if df.empty:
        return EDGES_META.copy()
    size = size[size > 1]
    keys, gids = df["key"].to_numpy(), df["gid"].to_numpy()
    first = df.groupby("key", sort=False)["gid"].transform("first").to_numpy()
    us, vs = [], []
    small = (size <= max_bucket_pairs) if all_pairs else np.zeros(len(df), bool)
    if small.any():
        k_small, g_small = keys[small], gids[small]
        starts = np.flatnonzero(np.concatenate(([True], k_small[1:] != k_small[:-1])))
        bounds = np.append(starts, len(k_small))
        for a, b in itertools.pairwise(bounds):
            iu, iv = np.triu_indices(b - a, 1)
            us.append(g_small[a:b][iu])
            vs.append(g_small[a:b][iv])
    big = ~small
    if big.any():
        k_big, g_big, f_big = keys[big], gids[big], first[big]
        m = g_big != f_big
        us.append(f_big[m])
        vs.append(g_big[m])
        if all_pairs:  # chain: consecutive members
            same = k_big[1:] == k_big[:-1]
            us.append(g_big[:-1][same])
            vs.append(g_big[1:][same])
    u, v = np.concatenate(us), np.concatenate(vs)
    return pd.DataFrame({"u": np.minimum(u, v), "v": np.maximum(u, v)}).drop_duplicates()


VERIFIED_META = pd.DataFrame({"u": pd.Series([], dtype="int64"), "v": pd.Series([], dtype="int64"),
                              "jaccard": pd.Series([], dtype="float64"),
                              "seconds": pd.Series([], dtype="float64")})


def _shingle_sets(path: str, rows: np.ndarray, hasher: MinHasher) -> dict[int, np.ndarray]:
    table = read_partition(Partition(key="verify", path=path), columns=["text"])
    texts = table.column("text").take(pa.array(rows))
    hashes, off = hasher.shingles(*hasher.normalize(texts))
    return {int(r): np.unique(hashes[off[i]: off[i + 1]]) for i, r in enumerate(rows)}


SETS_META = pd.DataFrame({"gid": pd.Series([], dtype="int64"), "shingles": pd.Series([], dtype="object")})


def shingle_sets(nodes: pd.DataFrame, paths: list[str], cfg: DedupConfig) -> pd.DataFrame:
    """``(gid, shingles)``: the sorted unique shingle hashes (as bytes) of each document ``nodes`` lists.

    ``nodes`` holds whole files (shuffled on the file index), so each input file is read once, by one task.
    """
    if nodes.empty:
        return SETS_META.copy()
    hasher = cfg.hasher()
    gids: list[np.ndarray] = []
    sets: list[bytes] = []
    for f in np.unique(nodes["file"].to_numpy()).tolist():
        mine = nodes["gid"].to_numpy()[nodes["file"].to_numpy() == f]
        rows = np.unique(mine & 0xFFFFFFFF)
        found = _shingle_sets(paths[f], rows, hasher)
        gids.append((np.int64(f) << np.int64(32)) + rows)
        sets += [found[int(r)].tobytes() for r in rows]
    return pd.DataFrame({"gid": np.concatenate(gids).astype(np.int64), "shingles": sets})


def pair_jaccard(df: pd.DataFrame) -> pd.DataFrame:
    """True Jaccard of each pair ``(u, v, su, sv)`` of shingle sets (from :func:`shingle_sets`)."""
    if df.empty:
        return VERIFIED_META.copy()
    t0 = time.perf_counter()
    jac = np.empty(len(df))
    for i, (a, b) in enumerate(zip(df["su"].tolist(), df["sv"].tolist(), strict=True)):
        sa, sb = np.frombuffer(a, dtype=np.uint64), np.frombuffer(b, dtype=np.uint64)
        inter = len(np.intersect1d(sa, sb, assume_unique=True))
        union = len(sa) + len(sb) - inter
        jac[i] = inter / union if union else 1.0
    secs = np.zeros(len(df))
    secs[0] = time.perf_counter() - t0
    return pd.DataFrame({"u": df["u"].to_numpy(), "v": df["v"].to_numpy(), "jaccard": jac, "seconds": secs})
