"""Phase 3 of dedup, after the components: the keeper of each cluster, the decisions per input file, and
(phase 4, in each filter task) those decisions applied to the file's documents."""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa

from corpus_forge.io import write_parquet_atomic
from corpus_forge.schema import with_reason
from corpus_forge.stage import PartitionResult
from corpus_forge.stats import Counters

EXACT, NEAR, PRIOR = "exact_duplicate", "near_duplicate", "duplicate_of_prior"
HIST_EDGES = (2, 3, 4, 5, 10, 100, 1000, 10000)  # cluster-size histogram bins: [2], [3], [4], [5-9], ...


ASSIGN_COLUMNS = ["part", "row", "dup_cluster", "dup_of", "reason", "cluster_size"]


def choose_keepers(df: pd.DataFrame) -> pd.DataFrame:
    """Members (gid, label, id, rank, exact_hash, prior) -> one assignment row per member of this run.

    The keeper of each component (``label``) is its smallest ``rank``; the others are removed as
    exact duplicates (same exact hash as the keeper) or near duplicates, or, when the keeper is a prior run's
    document (whose rank sorts first), as duplicates of the prior. Prior documents get no row: they are not
    this run's to decide.
    """
    if df.empty:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in zip(
            ASSIGN_COLUMNS, ["int64", "int64", "object", "object", "object", "int64"], strict=True)})
    df = df.sort_values(["label", "rank", "gid"], kind="stable")
    g = df.groupby("label", sort=False)
    keeper_id = g["id"].transform("first").to_numpy()
    keeper_hash = g["exact_hash"].transform("first").to_numpy()
    is_keeper = (g.cumcount() == 0).to_numpy()
    size = g["gid"].transform("size").to_numpy()
    gid = df["gid"].to_numpy()
    prior = df["prior"].to_numpy().astype(bool) if "prior" in df.columns else np.zeros(len(df), bool)
    keeper_prior = g["prior"].transform("first").to_numpy().astype(bool) if "prior" in df.columns else prior
    reason = np.where(is_keeper, None, np.where(keeper_prior, PRIOR, np.where(
        df["exact_hash"].to_numpy() == keeper_hash, EXACT, NEAR)))
    out = pd.DataFrame({
        "part": gid >> 32, "row": gid & 0xFFFFFFFF, "dup_cluster": keeper_id,
        "dup_of": np.where(is_keeper, None, keeper_id), "reason": reason, "cluster_size": size,
    })
    return out[~prior]


def write_assignments(df: pd.DataFrame, assign_dir: str) -> pd.DataFrame:
    for part, g in df.groupby("part"):
        t = pa.Table.from_pandas(g.drop(columns=["part"]).sort_values("row"), preserve_index=False)
        write_parquet_atomic(t, os.path.join(assign_dir, f"{int(part):06d}.parquet"))
    return pd.DataFrame({"n": [len(df)]})


def histogram(sizes: np.ndarray) -> dict[str, int]:
    """Cluster-size histogram over :data:`HIST_EDGES` bins, e.g. ``{"2": 10, "5-9": 3, "1000+": 1}``."""
    return histogram_of_counts(Counter(np.asarray(sizes, dtype=np.int64).tolist()))


def histogram_of_counts(by_size: dict[int, int]) -> dict[str, int]:
    """:func:`histogram` from the number of clusters per size (what the cluster reduces to)."""
    out: dict[str, int] = {}
    for lo, hi in itertools.pairwise([*HIST_EDGES, math.inf]):
        n = sum(c for s, c in by_size.items() if lo <= s < hi)
        label = str(lo) if hi == lo + 1 else (f"{lo}+" if hi == math.inf else f"{lo}-{hi - 1}")
        if n:
            out[label] = n
    return out


def apply_assignments(table: pa.Table, assign: pa.Table | None) -> PartitionResult:
    """Split ``table`` by the assignment rows (row, dup_cluster, dup_of, reason) of its file."""
    n = table.num_rows
    cluster = np.full(n, None, dtype=object)
    dup_of = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    if assign is not None and assign.num_rows:
        rows = assign.column("row").to_numpy()
        if rows.max(initial=-1) >= n:
            raise ValueError(f"dedup decisions name row {rows.max()} but the file has {n} rows (input changed?)")
        for arr, name in ((cluster, "dup_cluster"), (dup_of, "dup_of"), (reason, "reason")):
            arr[rows] = assign.column(name).to_pylist()
    for name, values in (("dup_cluster", cluster), ("dup_of", dup_of)):
        col = pa.array(values.tolist(), type=pa.string())
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, col)
        else:
            table = table.append_column(name, col)
    removed_mask = np.array([r is not None for r in reason], dtype=bool)
    counters = Counters(documents_in=n)
    for r, k in Counter(reason[removed_mask].tolist()).items():
        counters.remove(r, k)
    kept = table.filter(pa.array(~removed_mask))
    removed = with_reason(table.filter(pa.array(removed_mask)), reason[removed_mask].tolist())
    counters.documents_out = kept.num_rows
    return PartitionResult(kept, removed, counters)
