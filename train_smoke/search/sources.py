"""The search's sources, each packed once: a one-source mix per source, through the ``pack`` step.

A source that is already a packed dir (``train-*.bin`` inside) is used as it is; every other source (a stage
output dir, text / JSONL / Parquet files or folders) becomes mix ``<name>`` of one ``pack`` run into
``OUT/sources/`` (all of its documents once, ``val_fraction`` held out by id). A rerun finds that pack complete
and does nothing. The natural token shares are the sources' train tokens.
"""

from __future__ import annotations

import os
from typing import Any

from corpus_forge.config import ConfigError
from corpus_forge.io import is_url, path_exists, read_json
from corpus_forge.runner import run_stage, stage_failed
from train_smoke.search.config import SearchConfig

SOURCES = "sources"


def is_packed(path: str) -> bool:
    from train_smoke.ablate import _is_mix

    return _is_mix(path)


def _manifest(mix_dir: str) -> dict[str, Any]:
    p = os.path.join(mix_dir, "manifest.json")
    return read_json(p) if path_exists(p) else {}


def tokenizer_dir(cfg: SearchConfig) -> str:
    """``tokenizer:``, else the manifest of the first packed source (a ConfigError when neither names one)."""
    if cfg.tokenizer:
        return cfg.tokenizer
    for path in cfg.sources.values():
        if is_packed(path):
            tok = _manifest(path).get("tokenizer")
            tok = tok.get("path") if isinstance(tok, dict) else tok
            if tok:
                return str(tok)
    raise ConfigError("mix-search.tokenizer: required (the bpe --out folder) to pack the sources")


def pack_sources(cfg: SearchConfig, out_dir: str, client: Any) -> dict[str, str]:
    """{source: packed dir}, packing the sources that need it into ``out_dir/sources/<name>`` (once)."""
    dirs = {n: p for n, p in cfg.sources.items() if is_packed(p)}
    todo = {n: p for n, p in cfg.sources.items() if n not in dirs}
    if todo:
        from tokenize_bpe.pack import PackStage

        mix = {"seed": cfg.seed, "shard_tokens": cfg.shard_tokens,
               "mixes": {n: {"val_fraction": cfg.val_fraction, "sources": [{"path": p, "name": n}]}
                         for n, p in todo.items()}}
        stage = PackStage.from_options({"tokenizer": tokenizer_dir(cfg), "mix": mix})
        where = os.path.join(out_dir, SOURCES)
        stats = run_stage(stage, [], where, client=client, progress=False)
        problem = stage_failed(stats)
        if problem:
            raise RuntimeError(f"packing the sources into {where}: {problem}")
        dirs.update({n: os.path.join(where, n) for n in todo})
    return {n: dirs[n] for n in cfg.sources}


def available_tokens(mix_dir: str) -> int:
    """The distinct train tokens of a packed source (its manifest's, else its train shards' token counts)."""
    m = _manifest(mix_dir)
    if m.get("sources"):
        return int(sum(s.get("available_train_tokens", s.get("train_tokens", 0)) for s in m["sources"]))
    if "train_tokens" in m:
        return int(m["train_tokens"])
    from tokenize_bpe.shards import read_header
    from train_smoke.data import mix_shards

    return int(sum(read_header(p).num_tokens for p in mix_shards(mix_dir, "train")))


def text_paths(name: str, path: str) -> list[str]:
    """What to pack a verification mix from: the source's own paths, or a packed source's manifest's."""
    if not is_packed(path):
        return [path if is_url(path) else os.path.abspath(path)]
    paths = [p for s in _manifest(path).get("sources", []) for p in (s.get("paths") or [])]
    if not paths:
        raise ConfigError(f"sources.{name}: {path} is packed, and its manifest names no source paths to pack "
                          "the verification mixes from; give the source's documents instead")
    return paths
