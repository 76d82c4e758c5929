"""``shards verify`` for ``pack --format megatron|nanogpt``: one flat token file per split (and Megatron's index).

Per split file of the manifest: it exists, its size is its token count times the dtype's size, its sha256 matches;
every document ends with ``<|endoftext|>`` (Megatron: the last token of every sequence of the ``.idx``, whose
header, dtype code, lengths, pointers and one-document-per-sequence indices are checked; nanoGPT: the count of
``<|endoftext|>`` tokens is the document count and the file ends with one); Megatron's ``.src`` has one source
per sequence and gives the manifest's tokens per source.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from corpus_forge.io import file_size, is_file, local_file
from tokenize_bpe.megatron import MegatronIndexError, read_index
from tokenize_bpe.shards import file_sha256


def flat_tokens(path: str, manifest: dict[str, Any]) -> np.ndarray:
    """A split file's tokens as a read-only memmap (a URL through its local copy)."""
    local = local_file(path)
    dtype = np.dtype(manifest["dtype"]).newbyteorder("<")
    if os.path.getsize(local) == 0:
        return np.zeros(0, dtype)
    return np.memmap(local, dtype=dtype, mode="r")


def verify_flat_file(folder: str, rec: dict[str, Any], m: dict[str, Any]) -> list[str]:
    """Problems of one split file against its manifest record (empty: all good)."""
    path = f"{folder}/{rec['file']}"
    if not is_file(path):
        return [f"{path}: missing"]
    itemsize = np.dtype(m["dtype"]).itemsize
    size = file_size(path)
    if size != rec["tokens"] * itemsize:
        return [f"{path}: {size} bytes, manifest says {rec['tokens']} {m['dtype']} tokens"]
    problems = []
    sha = file_sha256(path)
    if sha != rec["sha256"]:
        problems.append(f"{path}: sha256 {sha[:12]}…, manifest says {rec['sha256'][:12]}… (the file changed)")
    eot = m.get("tokenizer", {}).get("eot_id")
    tokens = flat_tokens(path, m)
    if m["format"] == "nanogpt":
        n_eot = int(np.count_nonzero(tokens == eot)) if eot is not None else rec["documents"]
        if n_eot != rec["documents"] or (tokens.size and tokens[-1] != eot):
            problems.append(f"{path}: {n_eot} <|endoftext|> tokens ({eot}), manifest says {rec['documents']} "
                            "documents, each followed by one")
        return problems
    return problems + _check_megatron(f"{folder}/{rec['index']}", rec, m, tokens, eot)


def _check_megatron(idx: str, rec: dict[str, Any], m: dict[str, Any], tokens: np.ndarray, eot: int | None) -> list[str]:
    try:
        index = read_index(idx)
    except (OSError, MegatronIndexError) as err:
        return [f"{idx}: {err}" if idx not in str(err) else str(err)]
    if index.code != m["dtype_code"]:
        return [f"{idx}: dtype code {index.code}, manifest says {m['dtype_code']}"]
    n = index.lengths.size
    if n != rec["documents"] or int(index.lengths.sum()) != rec["tokens"]:
        return [f"{idx}: {n} sequences of {int(index.lengths.sum())} tokens, manifest says {rec['documents']} "
                f"documents of {rec['tokens']}"]
    if not np.array_equal(index.document_indices, np.arange(n + 1)):
        return [f"{idx}: document indices are not one document per sequence"]
    ends = np.cumsum(index.lengths) - 1
    if eot is not None and n and np.any(tokens[ends] != eot):
        return [f"{idx}: {int(np.count_nonzero(tokens[ends] != eot))} sequence(s) do not end with <|endoftext|>"]
    src = idx[: -len(".idx")] + ".src"
    if not is_file(src):
        return []
    with open(local_file(src), "rb") as f:
        sources = np.frombuffer(f.read(), "<u2")
    labels = [s["name"] for s in m["sources"]]
    if sources.size != n or (n and int(sources.max()) >= len(labels)):
        return [f"{src}: {sources.size} source indices for {n} sequences of {len(labels)} sources"]
    counts = np.bincount(sources, weights=index.lengths, minlength=len(labels)).astype(np.int64)
    got = {labels[i]: int(c) for i, c in enumerate(counts) if c}
    if got != rec.get("tokens_per_source", got):
        return [f"{src}: tokens per source {got}, manifest says {rec['tokens_per_source']}"]
    return []
