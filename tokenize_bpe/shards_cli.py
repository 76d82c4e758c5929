"""``corpus-forge shards verify DIR`` and ``corpus-forge shards stats DIR``: check and summarise packed shards.

``DIR`` is a ``pack --out`` folder (every ``<mix>/manifest.json`` in it) or one mix folder. ``verify`` checks,
per shard of the manifest: the file exists, its header (magic, version, token count, file size), the token
count and sha256 against the manifest, and the ``.idx`` sidecar (count, increasing offsets inside the shard,
each at an ``<|endoftext|>``) and, when present, the ``.src`` sidecar (one source per ``.idx`` entry; with the
manifest's ``head_source`` its tokens per source equal the manifest's ``tokens_per_source``); it prints a
decoded sample and exits 1 naming every mismatch. ``stats`` prints tokens and documents per source and split
as a table.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from corpus_forge.config import ConfigError
from corpus_forge.io import glob, is_file
from tokenize_bpe.pack import MANIFEST, SPLITS, load_manifest
from tokenize_bpe.shards import (
    ShardError,
    file_sha256,
    idx_path,
    open_tokens,
    read_header,
    read_idx,
    read_src,
    src_path,
)


def find_manifests(folder: str) -> list[str]:
    """``DIR/manifest.json``, else every ``DIR/*/manifest.json`` (local paths or URLs)."""
    d = str(folder).rstrip("/")
    if is_file(f"{d}/{MANIFEST}"):
        return [f"{d}/{MANIFEST}"]
    found = glob(f"{d}/*/{MANIFEST}")
    if not found:
        raise ConfigError(f"{d}: no {MANIFEST} here or in its subfolders (a corpus-forge pack --out folder?)")
    return found


def source_tokens(n_tokens: int, offsets: np.ndarray, sources: np.ndarray, head: int | None,
                  n_sources: int) -> np.ndarray:
    """Tokens per source index of one shard from its ``.idx`` starts, ``.src`` indices and ``head_source``."""
    starts = offsets.astype(np.int64)
    counts = np.zeros(n_sources, np.int64)
    ends = np.append(starts[1:], n_tokens)
    np.add.at(counts, sources.astype(np.int64), ends - starts)
    first = int(starts[0]) if starts.size else n_tokens
    if first and head is not None:
        counts[head] += first
    return counts


def check_src(path: str, rec: dict[str, Any], n_tokens: int, offsets: np.ndarray, labels: list[str]) -> list[str]:
    """Problems of ``NAME.src`` (when present) against the ``.idx`` and the manifest's ``tokens_per_source``."""
    try:
        sources = read_src(path)
    except (OSError, ShardError) as err:
        return [f"{src_path(path)}: {err}"]
    if sources is None:
        return []
    if sources.size != offsets.size:
        return [f"{src_path(path)}: {sources.size} source indices for {offsets.size} .idx entries"]
    head = rec.get("head_source")
    first = int(offsets[0]) if offsets.size else n_tokens
    if (head is None) != (first == 0):
        return [f"{src_path(path)}: head_source {head} but the first document starts at token {first}"]
    if (sources.size and int(sources.max()) >= len(labels)) or (head is not None and not 0 <= head < len(labels)):
        return [f"{src_path(path)}: a source index past the manifest's {len(labels)} sources"]
    counts = source_tokens(n_tokens, offsets, sources, head, len(labels))
    got = {labels[i]: int(c) for i, c in enumerate(counts) if c}
    if got != rec.get("tokens_per_source", got):
        return [f"{src_path(path)}: tokens per source {got}, manifest says {rec['tokens_per_source']}"]
    return []


def verify_shard(folder: str, rec: dict[str, Any], version: int, eot: int | None,
                 labels: list[str] | None = None) -> list[str]:
    """Problems of one shard against its manifest record (empty: all good)."""
    path = f"{folder}/{rec['file']}"
    if not is_file(path):
        return [f"{path}: missing"]
    try:
        header = read_header(path)
    except ShardError as err:
        return [str(err)]
    problems = []
    if header.version != version:
        problems.append(f"{path}: version {header.version}, manifest says {version}")
    if header.num_tokens != rec["tokens"]:
        problems.append(f"{path}: {header.num_tokens} tokens, manifest says {rec['tokens']}")
    sha = file_sha256(path)
    if sha != rec["sha256"]:
        problems.append(f"{path}: sha256 {sha[:12]}…, manifest says {rec['sha256'][:12]}… (the file changed)")
    try:
        offsets = read_idx(path)
    except (OSError, ShardError) as err:
        return [*problems, f"{idx_path(path)}: {err}"]
    if offsets.size != rec["documents"]:
        problems.append(f"{idx_path(path)}: {offsets.size} document starts, manifest says {rec['documents']}")
    if offsets.size:
        if np.any(np.diff(offsets.astype(np.int64)) <= 0) or int(offsets[-1]) >= header.num_tokens:
            problems.append(f"{idx_path(path)}: offsets not increasing inside the shard")
        elif eot is not None:
            toks = open_tokens(path)
            bad = int(np.count_nonzero(toks[offsets.astype(np.int64)] != eot))
            if bad:
                problems.append(f"{idx_path(path)}: {bad} offset(s) do not point at <|endoftext|> ({eot})")
    if labels is not None and not problems:
        problems += check_src(path, rec, header.num_tokens, offsets, labels)
    return problems


def verify(folder: str, sample_tokens: int = 64) -> list[str]:
    problems: list[str] = []
    for mpath in find_manifests(folder):
        m = load_manifest(mpath)
        eot = m.get("tokenizer", {}).get("eot_id")
        for split in SPLITS:
            total = sum(r["tokens"] for r in m["shards"] if r["split"] == split)
            if total != m.get(f"{split}_tokens", total):
                problems.append(f"{mpath}: {split} shards hold {total} tokens, manifest says {m[f'{split}_tokens']}")
        mix_dir = os.path.dirname(mpath)
        for rec in m["shards"]:
            problems += verify_shard(mix_dir, rec, m["version"], eot, [x["name"] for x in m["sources"]])
        ok = not problems
        print(f"{mix_dir}: {len(m['shards'])} shard(s), {m['train_tokens']:,} train + {m['val_tokens']:,} val "
              f"tokens — {'ok' if ok else 'MISMATCH'}")
        if m["shards"] and is_file(f"{mix_dir}/{m['shards'][0]['file']}"):
            print("  sample:", repr(_decode_sample(f"{mix_dir}/{m['shards'][0]['file']}", m, sample_tokens)))
    return problems


def _decode_sample(shard: str, manifest: dict[str, Any], n: int) -> str:
    try:
        from tokenize_bpe.encode import hf_tokenizer

        tok = hf_tokenizer(f"{manifest['tokenizer']['path'].rstrip('/')}/tokenizer.json")
        return tok.decode([int(t) for t in open_tokens(shard)[:n]], skip_special_tokens=False)
    except Exception as err:  # a sample is a courtesy: verification does not depend on the tokenizer
        return f"(cannot decode: {err})"


def stats_rows(folder: str) -> list[dict[str, Any]]:
    rows = []
    for mpath in find_manifests(folder):
        m = load_manifest(mpath)
        for s in m["sources"]:
            for split in SPLITS:
                rows.append({"mix": m["mix"], "split": split, "source": s["name"],
                             "tokens": s[f"{split}_tokens"], "documents": s[f"{split}_documents"],
                             "weight": s["achieved_weight"] if split == "train" else None,
                             "epochs": s["epochs"] if split == "train" else None})
    return rows


def print_stats(folder: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"shards in {folder}")
    for col in ("mix", "split", "source", "tokens", "documents", "weight", "epochs"):
        table.add_column(col, justify="right" if col not in ("mix", "split", "source") else "left")
    for r in stats_rows(folder):
        table.add_row(r["mix"], r["split"], r["source"], f"{r['tokens']:,}", f"{r['documents']:,}",
                      "" if r["weight"] is None else f"{r['weight']:.4f}",
                      "" if r["epochs"] is None else f"{r['epochs']:.2f}")
    Console().print(table)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shards", help="verify or summarise packed token shards", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="shards_command", metavar="SUBCOMMAND")
    v = s.add_parser("verify", help="headers, counts, .idx offsets and sha256 against the manifest")
    v.add_argument("dir", metavar="DIR", help="a pack --out folder or one mix folder in it")
    v.add_argument("--sample-tokens", type=int, default=64, help="tokens of the first shard to decode (default 64)")
    v.set_defaults(func=main_verify)
    st = s.add_parser("stats", help="tokens per source and split, as a table")
    st.add_argument("dir", metavar="DIR", help="a pack --out folder or one mix folder in it")
    st.set_defaults(func=main_stats)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def main_verify(args: argparse.Namespace) -> int:
    problems = verify(args.dir, args.sample_tokens)
    for msg in problems:
        print(f"corpus-forge shards verify: {msg}", file=sys.stderr)
    return 1 if problems else 0


def main_stats(args: argparse.Namespace) -> int:
    print_stats(args.dir)
    return 0
