"""Incremental snapshots: ``dedup --against PRIOR_DEDUP_DIR...`` (issue #21 item 4).

Every dedup run keeps, beside its output, the signatures of the documents it KEPT: per output file
``OUT/signatures/<key>.meta.parquet`` (``row`` in ``OUT/part-<key>.parquet``, ``id``, ``exact_hash``) and
``OUT/signatures/<key>.bands.parquet`` (LSH band ``key``, ``row``, ``exact_hash``). A later run given that folder
with ``against`` copies them into its own work folder as extra, read-only members of the duplicate graph
(:func:`load_prior`: no text is hashed again; verification reads a prior document's text from its part file).
A prior document always wins its component, and every new document in a component with one is removed as
``duplicate_of_prior``; the prior folder is only read.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from corpus_forge.config import ConfigError, validate
from corpus_forge.io import glob, is_dir, path_exists, read_json, read_parquet, remove_file, write_parquet_atomic
from pipelines.dedup.config import DedupConfig

INDEX = "signatures"  # the folder beside a dedup output holding its kept documents' signatures
PRIOR_RANK = ""  # sorts before every rank of a new document: a prior document always keeps its component


def index_paths(out_dir: str, key: str) -> tuple[str, str]:
    """``(meta, bands)`` of one output file's signatures."""
    return (os.path.join(out_dir, INDEX, f"{key}.meta.parquet"), os.path.join(out_dir, INDEX, f"{key}.bands.parquet"))


def write_index(work_dir: str, index: int, kept_rows: np.ndarray, out_dir: str, key: str) -> None:
    """The signatures of one file's kept documents, numbered by their row in ``OUT/part-<key>.parquet``."""
    meta = read_parquet(os.path.join(work_dir, "meta", f"{index:06d}.parquet"), columns=["gid", "id", "exact_hash"])
    bands = read_parquet(os.path.join(work_dir, "bands", f"{index:06d}.parquet"))
    n = meta.num_rows
    pos = np.full(n, -1, dtype=np.int64)
    pos[kept_rows] = np.arange(len(kept_rows))

    def renumbered(t: pa.Table) -> pa.Table:
        row = pos[t.column("gid").to_numpy() & 0xFFFFFFFF]
        keep = row >= 0
        return t.drop(["gid"]).filter(pa.array(keep)).append_column("row", pa.array(row[keep]))

    meta_path, bands_path = index_paths(out_dir, key)
    write_parquet_atomic(renumbered(bands), bands_path)
    write_parquet_atomic(renumbered(meta), meta_path)


def remove_stale_index(out_dir: str, keys: set[str]) -> None:
    """Signatures of output files no longer in the run (their partition was reset or removed)."""
    for path in glob(os.path.join(out_dir, INDEX, "*.parquet")):
        key = os.path.basename(path).rsplit(".", 2)[0]
        if key not in keys:
            remove_file(path)


# ---- reading a prior run ---------------------------------------------------------------------------

HASHING = ("exact_normalization", "ngram", "seed", "lowercase", "numbers", "punctuation", "diacritics")


def check_prior(prior: str, cfg: DedupConfig, where: str) -> dict[str, Any]:
    """A finished dedup output whose signatures this configuration can match; returns its ``stats.json``."""
    if not is_dir(prior):
        raise ConfigError(f"{where}: {prior} is not a folder")
    for name in ("_SUCCESS", "_stage.json", "stats.json"):
        if not path_exists(os.path.join(prior, name)):
            raise ConfigError(f"{where}: {prior} is not a finished dedup output (no {name})")
    stage = read_json(os.path.join(prior, "_stage.json"))
    if stage.get("stage") != "dedup":
        raise ConfigError(f"{where}: {prior} is the output of {stage.get('stage')!r}, not of dedup")
    if not is_dir(os.path.join(prior, INDEX)):
        raise ConfigError(f"{where}: {prior} keeps no signatures/ (made before dedup kept them; rerun it)")
    theirs = validate(DedupConfig, {k: v for k, v in stage["config"].items() if k != "against"}, where)
    for key in HASHING:
        if getattr(theirs, key) != getattr(cfg, key):
            raise ConfigError(f"{where}: {prior} was hashed with {key}={getattr(theirs, key)!r}, this run uses "
                              f"{getattr(cfg, key)!r}; the signatures cannot be compared")
    if cfg.fuzzy and (not theirs.fuzzy or theirs.band_rows() != cfg.band_rows()):
        raise ConfigError(f"{where}: {prior} has band keys for fuzzy={theirs.fuzzy}, bands x rows "
                          f"{theirs.band_rows()}; this run uses {cfg.band_rows()}")
    return read_json(os.path.join(prior, "stats.json"))


def prior_files(priors: list[str]) -> list[tuple[str, str, str]]:
    """``(meta, bands, part file)`` per output file of the prior runs, in a fixed order (one listing each)."""
    out = []
    for prior in priors:
        for meta in sorted(glob(os.path.join(prior, INDEX, "*.meta.parquet"))):
            key = os.path.basename(meta).removesuffix(".meta.parquet")
            out.append((meta, index_paths(prior, key)[1], os.path.join(prior, f"part-{key}.parquet")))
    return out


def load_prior(meta_src: str, bands_src: str, index: int, work_dir: str) -> dict[str, Any]:
    """One prior output file's signatures as work files of this run, file index ``index`` (a task)."""
    meta = read_parquet(meta_src)
    gid = (np.int64(index) << np.int64(32)) + meta.column("row").to_numpy().astype(np.int64)
    n = meta.num_rows
    work_meta = pa.table({"gid": gid, "id": meta.column("id"), "exact_hash": meta.column("exact_hash"),
                          "rank": pa.array([PRIOR_RANK] * n, pa.string()), "n_shingles": np.zeros(n, np.int32),
                          "prior": np.ones(n, bool)})
    bands = read_parquet(bands_src)
    work_bands = pa.table({"key": bands.column("key"),
                           "gid": (np.int64(index) << np.int64(32)) + bands.column("row").to_numpy().astype(np.int64),
                           "exact_hash": bands.column("exact_hash")})
    write_parquet_atomic(work_bands, os.path.join(work_dir, "bands", f"{index:06d}.parquet"))
    write_parquet_atomic(work_meta, os.path.join(work_dir, "meta", f"{index:06d}.parquet"))
    return {"index": index, "documents": n}
