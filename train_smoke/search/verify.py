"""Verification, always: the found mix against the two mixes a user would try without a search.

``natural`` (each source at its share of the tokens) and ``equal`` (the same weight for every source) are
packed beside ``found`` (the mix of ``OUT/mix.yaml``) in one ``pack`` run into ``OUT/verify-mixes/``, at the
verification budget, and trained through ``ablate`` into ``OUT/verify/`` over the verification seeds (a seed
gives every mix the same initial weights: runs pair by seed). :func:`compare` reads the per-seed differences.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus_forge.io import read_text
from corpus_forge.runner import run_stage, stage_failed
from train_smoke.search.config import MEAN, SearchConfig

MIXES_DIR, VERIFY_DIR = "verify-mixes", "verify"
FOUND, NATURAL, EQUAL = "found", "natural", "equal"


def mix_spec(cfg: SearchConfig, paths: dict[str, list[str]], weights: dict[str, float]) -> dict[str, Any]:
    """One mix of a pack mix file: the sources at ``weights``, ``verify.tokens`` train tokens."""
    epochs = max([cfg.max_epochs] + [cfg.bound(n).max_epochs or 0 for n in paths])
    return {"tokens": cfg.verify.tokens, "val_fraction": cfg.val_fraction, "max_epochs": max(1.0, epochs),
            "sources": [{"path": p if len(p) > 1 else p[0], "name": n, "weight": round(float(weights[n]), 6)}
                        for n, p in paths.items() if round(float(weights[n]), 6) > 0]}


def mix_file(cfg: SearchConfig, paths: dict[str, list[str]], mixes: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A pack mix file (CONTRACT.md) with one mix per entry of ``mixes`` (name: source weights)."""
    return {"seed": cfg.seed, "shard_tokens": cfg.shard_tokens,
            "mixes": {name: mix_spec(cfg, paths, w) for name, w in mixes.items()}}


def run_verification(cfg: SearchConfig, out_dir: str, client: Any, tokenizer: str,
                     mixes: dict[str, Any]) -> list[dict[str, Any]]:
    """Pack ``mixes`` (a mix file's data), run them through ``ablate``; the rows of its results.csv."""
    from tokenize_bpe.pack import PackStage
    from train_smoke.ablate import AblateStage

    packed = os.path.join(out_dir, MIXES_DIR)
    _ok(run_stage(PackStage.from_options({"tokenizer": tokenizer, "mix": mixes}), [], packed, client=client,
                  progress=False), packed)
    opts = {"mixes": {m: os.path.join(packed, m) for m in mixes["mixes"]}, "seeds": cfg.verify.seeds,
            "model": cfg.model, "tokens": cfg.verify.tokens, "eval": cfg.eval, "train": cfg.train,
            "gpu": cfg.gpu, "threads": cfg.threads}
    where = os.path.join(out_dir, VERIFY_DIR)
    _ok(run_stage(AblateStage.from_options(opts), [], where, client=client, progress=False), where)
    return read_results(os.path.join(where, "results.csv"))


def _ok(stats: dict[str, Any], where: str) -> None:
    problem = stage_failed(stats)
    if problem:
        raise RuntimeError(f"verification step {stats.get('stage')} into {where}: {problem}")


def read_results(path: str) -> list[dict[str, Any]]:
    """An ablate results.csv as rows with numbers, plus ``bpb_mean`` (mean over the evaluation texts)."""
    rows = []
    for r in csv.DictReader(io.StringIO(read_text(path))):
        row: dict[str, Any] = dict(r)
        row["seed"] = int(r["seed"])
        texts = [k for k in r if k.startswith("bpb_") and k != f"bpb_{MEAN}"]
        for k in texts:
            row[k] = float(r[k])
        row[f"bpb_{MEAN}"] = float(np.mean([row[k] for k in texts]))
        rows.append(row)
    return rows


@dataclass
class Pair:
    """The found mix against one other mix on one metric, paired by seed (negative: found is better)."""

    other: str
    metric: str
    seeds: list[int]
    diffs: list[float]
    paired_p: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.diffs)) if self.diffs else math.nan

    @property
    def better(self) -> bool:
        """Found has the lower mean, and the paired t-test says so at 5%."""
        return bool(self.diffs) and self.mean < 0 and (self.paired_p < 0.05)


def compare(rows: list[dict[str, Any]], metric: str, other: str) -> Pair:
    from train_smoke.ablate_results import paired_p

    found = {r["seed"]: r[metric] for r in rows if r["mix"] == FOUND}
    them = {r["seed"]: r[metric] for r in rows if r["mix"] == other}
    seeds = sorted(set(found) & set(them))
    diffs = [found[s] - them[s] for s in seeds]
    return Pair(other, metric, seeds, diffs, paired_p(diffs))


def measured(rows: list[dict[str, Any]], mix: str, metric: str) -> list[float]:
    return [r[metric] for r in rows if r["mix"] == mix]
