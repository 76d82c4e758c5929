"""``dedup``: exact and MinHash-LSH fuzzy deduplication across the whole corpus, on Dask, on CPUs.

Input: a previous stage's output directory (``part-*.parquet``). Four phases; the work lives in
``OUT/_work/`` (the runner's work folder) and each phase is skipped on a rerun once it finished:

1. **signatures** (one pure task per input file, :func:`sign_table`): normalize text, 64-bit exact
   hash, MinHash signature (:mod:`pipelines.dedup.minhash`), one key per LSH band. Writes
   ``_work/meta/<i>.parquet`` (gid, id, exact hash, keeper rank) and ``_work/bands/<i>.parquet``
   (band key, gid). ``gid = file index << 32 | row`` names a document in 8 bytes.
2. **candidates** (Dask DataFrame shuffles): meta shuffled on the exact hash -> every exact duplicate is
   an edge to its group's best document; band rows shuffled on the band key -> documents sharing a
   bucket become candidate pairs (exact duplicates collapsed first); optionally each pair is verified by
   the true Jaccard of its shingle sets (pairs grouped by file, texts re-read there).
3. **components** (:mod:`pipelines.dedup.components`): in memory when the edges fit, else large-star /
   small-star on Dask DataFrames. The keeper of a component is its best document by ``keep_order``
   (default: highest ``quality_score``, then earliest ``crawl_date``, then smallest ``id``); every other
   member is removed as ``exact_duplicate`` (same exact hash as the keeper) or ``near_duplicate``.
   Decisions are written per input file to ``_work/assign/<i>.parquet``.
4. **filter** (the runner, one pure task per input file): kept documents get ``dup_cluster`` (the
   keeper's id when they head a cluster, else null); removed ones carry ``dup_cluster`` and ``dup_of``.

``stats.json`` adds ``dedup``: clusters, cluster-size histogram, candidate pairs, verification cost and
phase timings.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, model_validator

from corpus_forge.config import StageConfig
from corpus_forge.io import (
    make_dirs,
    path_exists,
    read_json,
    read_parquet,
    remove_tree,
    write_json_atomic,
    write_parquet_atomic,
)
from corpus_forge.schema import with_reason
from corpus_forge.stage import DocumentStage, Partition, PartitionResult, RunContext, read_partition
from corpus_forge.stats import Counters
from pipelines.dedup import report as dedup_report
from pipelines.dedup.components import connected_components
from pipelines.dedup.minhash import MinHasher, TextNorm, exact_hashes, lsh_params, normalize_batch

EXACT, NEAR = "exact_duplicate", "near_duplicate"
HIST_EDGES = (2, 3, 4, 5, 10, 100, 1000, 10000)  # cluster-size histogram bins: [2], [3], [4], [5-9], ...
_NULL_KEY = "\U0010ffff"  # sorts after every real value: missing values never win


class DedupConfig(StageConfig):
    """Options of the dedup stage (keys as in a recipe's ``dedup:`` block)."""

    exact: bool = Field(True, description="remove documents whose normalized text is identical")
    exact_normalization: Literal["full", "whitespace"] = Field(
        "full", description="'full': the fuzzy normalization below; 'whitespace': only collapse whitespace")
    fuzzy: bool = Field(True, description="MinHash-LSH near-duplicate removal")
    ngram: int = Field(5, ge=1, description="word n-gram shingle size (FineWeb: 5)")
    bands: int = Field(14, ge=1, description="LSH bands (FineWeb: 14)")
    rows: int = Field(8, ge=1, description="rows per band (FineWeb: 8)")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="derive bands x rows for this Jaccard threshold (uses num_perm)")
    num_perm: int = Field(112, ge=1, description="permutations when bands x rows come from threshold")
    seed: int = Field(1, ge=0, description="seed of the MinHash permutations")
    lowercase: bool = True
    numbers: bool = Field(True, description="digit runs become 0")
    punctuation: bool = Field(True, description="punctuation and symbols become spaces")
    diacritics: bool = Field(True, description="strip diacritics")
    verify: bool = Field(True, description="check candidate pairs by true Jaccard of their shingle sets")
    verify_threshold: float = Field(0.7, ge=0, le=1, description="pairs below this Jaccard are dropped")
    keep_order: list[str] = Field(
        default_factory=lambda: ["-quality_score", "crawl_date", "id"],
        description="keeper rule: columns compared in order, '-' = highest first; id breaks ties")
    max_bucket_pairs: int = Field(
        32, ge=2, description="buckets up to this size yield all pairs (when verifying), larger a star")
    batch_docs: int = Field(2000, ge=1, description="documents hashed per batch")
    components_in_memory_max: int = Field(
        20_000_000, ge=0, description="edges up to this count are clustered in client memory")

    @model_validator(mode="after")
    def _check(self) -> DedupConfig:
        if not (self.exact or self.fuzzy):
            raise ValueError("nothing to do: exact and fuzzy are both off")
        for key in self.keep_order:
            if not key.lstrip("-"):
                raise ValueError(f"keep_order: empty column name in {self.keep_order}")
        return self

    def band_rows(self) -> tuple[int, int]:
        if self.threshold is not None:
            return lsh_params(self.threshold, self.num_perm)
        return self.bands, self.rows

    def hasher(self) -> MinHasher:
        bands, rows = self.band_rows()
        norm = TextNorm(self.lowercase, self.numbers, self.punctuation, self.diacritics)
        return MinHasher(ngram=self.ngram, bands=bands, rows=rows, seed=self.seed, norm=norm)


# ---------------------------------------------------------------------------------------------------
# phase 1: per-file signatures (pure)

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
                         "rank": rank_keys(table, cfg.keep_order), "n_shingles": n_sh})
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
        return {"index": index, "skipped": True}
    t0 = time.perf_counter()
    try:  # a file that cannot be read or signed fails alone; the filter phase names it
        meta, bands, nbytes = sign_table(read_partition(part), index, cfg)
    except Exception as err:
        return {"index": index, "input": part.path, "error": f"{type(err).__name__}: {err}"}
    write_parquet_atomic(pa.Table.from_pandas(bands, preserve_index=False), bands_path)
    write_parquet_atomic(pa.Table.from_pandas(meta, preserve_index=False), meta_path)
    return {"index": index, "documents": len(meta), "bytes": nbytes, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------------
# phase 2: candidate edges (pure pandas functions, mapped over shuffled Dask partitions)

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


def verify_pairs(df: pd.DataFrame, paths: list[str], cfg: DedupConfig) -> pd.DataFrame:
    """True Jaccard of each pair's shingle sets; texts are re-read from their input files."""
    if df.empty:
        return VERIFIED_META.copy()
    t0 = time.perf_counter()
    hasher = cfg.hasher()
    u, v = df["u"].to_numpy(), df["v"].to_numpy()
    need: dict[int, set[int]] = {}
    for g in np.concatenate([u, v]).tolist():
        need.setdefault(g >> 32, set()).add(g & 0xFFFFFFFF)
    sets: dict[int, dict[int, np.ndarray]] = {
        f: _shingle_sets(paths[f], np.array(sorted(rows), dtype=np.int64), hasher) for f, rows in need.items()
    }
    jac = np.empty(len(u))
    for i, (a, b) in enumerate(zip(u.tolist(), v.tolist(), strict=True)):
        sa, sb = sets[a >> 32][a & 0xFFFFFFFF], sets[b >> 32][b & 0xFFFFFFFF]
        inter = len(np.intersect1d(sa, sb, assume_unique=True))
        union = len(sa) + len(sb) - inter
        jac[i] = inter / union if union else 1.0
    secs = np.zeros(len(u))
    secs[0] = time.perf_counter() - t0
    return pd.DataFrame({"u": u, "v": v, "jaccard": jac, "seconds": secs})


# ---------------------------------------------------------------------------------------------------
# phase 3: keepers (pure pandas, after components)

ASSIGN_COLUMNS = ["part", "row", "dup_cluster", "dup_of", "reason", "cluster_size"]


def choose_keepers(df: pd.DataFrame) -> pd.DataFrame:
    """Members (gid, label, id, rank, exact_hash) -> one assignment row per member.

    The keeper of each component (``label``) is its smallest ``rank``; the others are removed as
    exact duplicates (same exact hash as the keeper) or near duplicates.
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
    reason = np.where(is_keeper, None, np.where(df["exact_hash"].to_numpy() == keeper_hash, EXACT, NEAR))
    return pd.DataFrame({
        "part": gid >> 32, "row": gid & 0xFFFFFFFF, "dup_cluster": keeper_id,
        "dup_of": np.where(is_keeper, None, keeper_id), "reason": reason, "cluster_size": size,
    })


def _write_assignments(df: pd.DataFrame, assign_dir: str) -> pd.DataFrame:
    for part, g in df.groupby("part"):
        t = pa.Table.from_pandas(g.drop(columns=["part"]).sort_values("row"), preserve_index=False)
        write_parquet_atomic(t, os.path.join(assign_dir, f"{int(part):06d}.parquet"))
    return pd.DataFrame({"n": [len(df)]})


def histogram(sizes: np.ndarray) -> dict[str, int]:
    """Cluster-size histogram over :data:`HIST_EDGES` bins, e.g. ``{"2": 10, "5-9": 3, "1000+": 1}``."""
    out: dict[str, int] = {}
    for lo, hi in itertools.pairwise([*HIST_EDGES, math.inf]):
        n = int(((sizes >= lo) & (sizes < hi)).sum())
        label = str(lo) if hi == lo + 1 else (f"{lo}+" if hi == math.inf else f"{lo}-{hi - 1}")
        if n:
            out[label] = n
    return out


# ---------------------------------------------------------------------------------------------------
# orchestration of phases 1-3 (runs on the client; the work runs on the cluster via Dask collections)

SHUFFLE_PARTITION_BYTES = 128 * 2**20  # target size of one shuffled partition


def _npartitions(total_rows: int, bands: int) -> int:
    """Shuffle partitions: ~128 MiB of band rows (24 bytes per document and band) each."""
    return max(1, min(100_000, math.ceil(total_rows * bands * 24 / SHUFFLE_PARTITION_BYTES)))


def run_global_phases(cfg: DedupConfig, partitions: list[Partition], work_dir: str) -> dict[str, Any]:
    """Phases 1-3 over all input files; returns the summary (also written to ``work_dir/summary.json``).

    Skips everything when a summary for the same configuration and inputs exists.
    """
    import dask

    summary_path = os.path.join(work_dir, "summary.json")
    ident = {"config": cfg.model_dump(mode="json"), "inputs": [p.path for p in partitions]}
    if path_exists(summary_path):
        old = read_json(summary_path)
        if old.get("ident") == ident:
            return old
    if path_exists(work_dir):  # stale or partial work from another configuration
        old_ident = os.path.join(work_dir, "ident.json")
        if not path_exists(old_ident) or read_json(old_ident) != ident:
            remove_tree(work_dir)
    make_dirs(work_dir)
    write_json_atomic(ident, os.path.join(work_dir, "ident.json"))
    assign_dir = os.path.join(work_dir, "assign")
    if path_exists(assign_dir):  # phases 2-3 restart from the signatures
        remove_tree(assign_dir)

    total_rows = _total_rows(partitions)
    nparts = _npartitions(total_rows, cfg.band_rows()[0])
    small = dask.config.set({"dataframe.shuffle.method": "tasks"})  # p2p pays off only at scale
    with small if total_rows < SMALL_SHUFFLE_ROWS else _nullcontext():
        return _global_phases(cfg, partitions, work_dir, ident, summary_path, nparts)


SMALL_SHUFFLE_ROWS = 2_000_000


def _nullcontext() -> Any:
    import contextlib

    return contextlib.nullcontext()


def _total_rows(partitions: list[Partition]) -> int:
    total = 0
    for p in partitions:
        try:
            with fsspec.open(p.path, "rb") as f:
                total += pq.ParquetFile(f).metadata.num_rows
        except Exception:
            continue
    return total


def _global_phases(cfg: DedupConfig, partitions: list[Partition], work_dir: str, ident: dict[str, Any],
                   summary_path: str, nparts: int) -> dict[str, Any]:
    import dask
    import dask.dataframe as dd

    timings: dict[str, float] = {}
    paths = [p.path for p in partitions]
    t0 = time.perf_counter()
    signed = dask.compute(*[dask.delayed(sign_partition, pure=False)(p, i, cfg, work_dir)
                            for i, p in enumerate(partitions)])
    timings["signatures"] = time.perf_counter() - t0
    ok = [s["index"] for s in signed if "error" not in s]
    meta_files = [os.path.join(work_dir, "meta", f"{i:06d}.parquet") for i in ok]
    band_files = [os.path.join(work_dir, "bands", f"{i:06d}.parquet") for i in ok]
    sig_bytes = sum(s.get("bytes", 0) for s in signed)
    sig_secs = sum(s.get("seconds", 0.0) for s in signed)

    t0 = time.perf_counter()
    edge_frames = []
    stats: dict[str, Any] = {"bands": cfg.band_rows()[0], "rows": cfg.band_rows()[1]}
    if not meta_files:
        meta = None
    else:
        meta = dd.read_parquet(meta_files, columns=["gid", "id", "exact_hash", "rank"])
    if meta is not None and cfg.exact:
        ex = meta[["gid", "exact_hash", "rank"]].shuffle(on="exact_hash", npartitions=nparts)
        exact = ex.map_partitions(exact_edges, meta=EDGES_META).persist()
        stats["exact_edges"] = int(exact.shape[0].compute())
        edge_frames.append(exact)
    timings["exact"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if meta is not None and cfg.fuzzy:
        bands = dd.read_parquet(band_files)
        cand = bands.shuffle(on="key", npartitions=nparts).map_partitions(
            bucket_pairs, cfg.verify, cfg.max_bucket_pairs, cfg.exact, meta=EDGES_META)
        cand = cand.drop_duplicates(split_out=nparts).persist()
        stats["candidate_pairs"] = int(cand.shape[0].compute())
        timings["candidates"] = time.perf_counter() - t0
        if cfg.verify and stats["candidate_pairs"]:
            t0 = time.perf_counter()
            cand = cand.assign(file=cand.u // (1 << 32))
            checked = cand.shuffle(on="file", npartitions=nparts).map_partitions(
                lambda d: verify_pairs(d.drop(columns=["file"]), paths, cfg), meta=VERIFIED_META).persist()
            n_ok, cpu = dask.compute((checked.jaccard >= cfg.verify_threshold).sum(), checked.seconds.sum())
            fuzzy = checked[checked.jaccard >= cfg.verify_threshold][["u", "v"]]
            stats["verification"] = {
                "pairs_checked": stats["candidate_pairs"], "pairs_confirmed": int(n_ok),
                "pairs_rejected": stats["candidate_pairs"] - int(n_ok), "threshold": cfg.verify_threshold,
                "cpu_seconds": round(float(cpu), 3), "seconds": round(time.perf_counter() - t0, 3),
            }
            timings["verify"] = time.perf_counter() - t0
        else:
            fuzzy = cand
        edge_frames.append(fuzzy)

    t0 = time.perf_counter()
    assign_dir = os.path.join(work_dir, "assign")
    make_dirs(assign_dir)
    sizes = np.zeros(0, np.int64)
    if edge_frames:
        edges = dd.concat(edge_frames) if len(edge_frames) > 1 else edge_frames[0]
        labels, method = connected_components(edges, cfg.components_in_memory_max)
        stats["components_method"] = method
        if isinstance(labels, pd.DataFrame):
            nodes = labels["node"].to_numpy()
            members = meta.map_partitions(lambda d: d[d["gid"].isin(nodes)]).compute()
            assigned = choose_keepers(members.merge(labels.rename(columns={"node": "gid"}), on="gid"))
            _write_assignments(assigned, assign_dir)
            sizes = assigned.loc[assigned["reason"].isna(), "cluster_size"].to_numpy()
        else:
            members = meta.merge(labels.rename(columns={"node": "gid"}), on="gid", npartitions=nparts)
            assigned = members.shuffle(on="label", npartitions=nparts).map_partitions(
                choose_keepers, meta=choose_keepers(pd.DataFrame(columns=["gid", "label", "id", "rank",
                                                                            "exact_hash"]))).persist()
            assigned.shuffle(on="part", npartitions=nparts).map_partitions(
                _write_assignments, assign_dir, meta=pd.DataFrame({"n": pd.Series([], dtype="int64")})).compute()
            sizes = assigned[assigned.reason.isna()].cluster_size.compute().to_numpy()
    timings["components"] = time.perf_counter() - t0
    summary = {
        "ident": ident,
        "signed_files": len(ok),
        "failed_files": [s for s in signed if "error" in s],
        "clusters": len(sizes),
        "cluster_size_histogram": histogram(sizes),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "shuffle_partitions": nparts,
        "signature_mb_per_cpu_second": round(sig_bytes / 1e6 / sig_secs, 2) if sig_secs else None,
        **stats,
        "phase_seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    write_json_atomic(summary, summary_path)
    return summary


# ---------------------------------------------------------------------------------------------------
# phase 4: the stage the runner maps over input files

@dataclass(frozen=True)
class DedupContext:
    """What every filter task needs: where the decisions are, file index by partition key, failed files.

    (An object, not a dict: ``Client.scatter`` would scatter a dict's values under its keys as names.)
    """

    assign_dir: str
    index: dict[str, int]
    failed: dict[int, str]


class DedupStage(DocumentStage):
    """Filters each input file by the decisions of the global phases (run in :meth:`prepare`)."""

    name = "dedup"
    Config = DedupConfig
    help = "exact + MinHash-LSH near-duplicate removal across the corpus"
    report_section = staticmethod(dedup_report.section)  # its part of report.html

    def prepare(self, partitions: list[Partition], run: RunContext) -> DedupContext:
        self.work_dir = run.work_dir
        summary = run_global_phases(self.config, partitions, self.work_dir)
        return DedupContext(os.path.join(self.work_dir, "assign"), {p.key: i for i, p in enumerate(partitions)},
                            {f["index"]: f["error"] for f in summary["failed_files"]})

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        if ctx is None:
            raise RuntimeError("dedup: process() needs the context from prepare() (the global phases)")
        index = ctx.index[part.key]
        if index in ctx.failed:  # never pass a file through undeduplicated
            raise RuntimeError(f"dedup: could not sign {part.path}: {ctx.failed[index]}")
        table = read_partition(part)
        path = os.path.join(ctx.assign_dir, f"{index:06d}.parquet")
        assign = read_parquet(path) if path_exists(path) else None
        return apply_assignments(table, assign)

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        path = os.path.join(run.work_dir, "summary.json")
        if not path_exists(path):
            return {}
        summary = read_json(path)
        summary.pop("ident", None)
        return {"dedup": summary}


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
