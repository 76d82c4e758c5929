"""``pack --format megatron|nanogpt``: one token file per split, written in pieces by many workers.

Both formats hold a split as one flat file of tokens, each document's tokens followed by ``<|endoftext|>``:

- ``megatron``: ``<split>.bin`` + ``<split>.idx``, Megatron's indexed dataset (:mod:`tokenize_bpe.megatron`),
  one document per sequence, dtype by Megatron's rule (uint16 below 65,500 ids, else int32), and a ``<split>.src``
  (uint16 source index per document, as beside llm.c shards);
- ``nanogpt``: ``train.bin`` / ``val.bin``, flat uint16 as nanoGPT's ``data/openwebtext/prepare.py`` writes
  them (``np.memmap(..., dtype=np.uint16)``); vocabularies past 65,536 ids are refused.

The end of text goes *after* each document here (llm.c shards put it before): Megatron's
``tools/preprocess_data.py --append-eod``, NeMo's copy of that script, datatrove's ``MegatronDocumentTokenizer``
(``eos_token`` after each document) and nanoGPT's ``prepare.py`` (``ids.append(enc.eot_token)``) all append it,
and Megatron's ``GPTDataset`` (``reset_position_ids`` / ``reset_attention_mask`` / ``eod_mask_loss``) treats the
EOD token as the end of the document it follows. The tokens are the same stream otherwise.

The split's documents (in the mix's order) are cut at document boundaries into pieces of about
``shard_tokens``; each piece is written by a Dask task into the work folder, then one task concatenates the
pieces' bytes into the split's file (a copy, as Megatron's ``IndexedDatasetBuilder.add_index`` and NeMo
Curator's merge do: no token is decoded or re-encoded) and writes the index from the plan's lengths. Pieces and
the final file are kept when a rerun has the same plan, so a killed pack resumes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus_forge.io import InputError, atomic_write, path_exists, read_json, url_to_fs, write_json_atomic
from tokenize_bpe.assemble import gather
from tokenize_bpe.megatron import DTYPE_CODES, dtype_code_for_vocab, index_bytes

FLAT = "pack_flat"
NANOGPT_MAX_VOCAB = 1 << 16


@dataclass(frozen=True)
class FlatFormat:
    name: str  # "megatron" or "nanogpt"
    dtype: np.dtype
    code: int | None  # Megatron's dtype code (None for nanoGPT)


def flat_format(name: str, vocab_size: int, where: str) -> FlatFormat:
    """The dtype of ``name`` for this vocabulary; nanoGPT past 65,536 ids is an InputError naming ``where``."""
    if name == "nanogpt":
        if vocab_size > NANOGPT_MAX_VOCAB:
            raise InputError(f"{where}: --format nanogpt stores uint16 tokens, but the vocabulary has "
                             f"{vocab_size:,} ids (> 65,536); use --format llmc or megatron")
        return FlatFormat(name, np.dtype("<u2"), None)
    code = dtype_code_for_vocab(vocab_size)
    return FlatFormat(name, DTYPE_CODES[code], code)


def split_files(fmt: FlatFormat, split: str) -> dict[str, str]:
    """The files of one split: ``bin`` always; ``idx`` and ``src`` for Megatron."""
    names = {"bin": f"{split}.bin"}
    if fmt.code is not None:
        names |= {"idx": f"{split}.idx", "src": f"{split}.src"}
    return names


def write_flat_split(run: Any, mix: str, split: str, a: dict[str, np.ndarray], fmt: FlatFormat, eot: int,
                     shard_tokens: int, token_files: list[str], labels: list[str], plan_sha: str) -> list[dict]:
    """Write one split (``a``: per document in order ``files``, ``offsets``, ``lengths``, ``source``, ``starts``)
    as pieces on the workers, then their concatenation; return its one manifest record ([] when empty)."""
    if a["starts"].size == 0:
        return []
    work = os.path.join(run.work_dir, FLAT, mix, split)
    out = os.path.join(run.out_dir, mix)
    names = split_files(fmt, split)
    done = os.path.join(work, "done.json")
    if path_exists(done) and all(path_exists(os.path.join(out, n)) for n in names.values()):
        rec = read_json(done)
        if rec.get("plan_sha256") == plan_sha:
            return [rec["shard"]]
    piece_of = a["starts"] // shard_tokens  # a piece holds the documents that start inside its token range
    bounds = np.flatnonzero(np.diff(piece_of)) + 1
    cuts = [0, *bounds.tolist(), a["starts"].size]
    jobs = []
    for k in range(len(cuts) - 1):
        piece = {name: arr[cuts[k] : cuts[k + 1]].copy() for name, arr in a.items()}
        jobs.append((os.path.join(work, f"piece-{k:05d}.bin"), piece, token_files, fmt.dtype, eot,
                     f"{plan_sha}:{k}"))
    tag = os.urandom(3).hex()
    futures = run.client.map(write_flat_piece, jobs, pure=False,
                             key=[f"pack-{fmt.name}-{mix}-{split}-{k}-{tag}" for k in range(len(jobs))])
    run.client.gather(futures)
    job = ([j[0] for j in jobs], {k: os.path.join(out, n) for k, n in names.items()}, a["lengths"], a["source"],
           fmt.code)
    sha = run.client.submit(concat_pieces, job, pure=False, key=f"pack-{fmt.name}-{mix}-{split}-concat-{tag}").result()
    per_source = np.bincount(a["source"], weights=a["lengths"], minlength=len(labels)).astype(np.int64)
    shard = {"file": names["bin"], **({"index": names["idx"]} if "idx" in names else {}),
             "tokens": int(a["lengths"].sum()), "documents": int(a["starts"].size), "sha256": sha,
             "tokens_per_source": {labels[s]: int(v) for s, v in enumerate(per_source) if v}, "head_source": None}
    write_json_atomic({"plan_sha256": plan_sha, "shard": shard}, done)
    return [shard]


def write_flat_piece(job: tuple) -> int:
    """Write one piece (whole documents, each ``text tokens + <|endoftext|>``) unless done for the same plan;
    runs on a worker. Returns its token count."""
    path, a, token_files, dtype, eot, piece_sha = job
    marker = f"{path}.json"
    if path_exists(path) and path_exists(marker) and read_json(marker).get("plan") == piece_sha:
        return int(read_json(marker)["tokens"])
    lengths = a["lengths"].astype(np.int64)
    dst = a["starts"].astype(np.int64) - int(a["starts"][0])
    out = np.empty(int(lengths.sum()), dtype)
    # a work file holds each document as <|endoftext|> + text: take the text, then put the separator after it
    gather(token_files, a["files"], a["offsets"] + 1, dst, lengths - 1, out)
    out[dst + lengths - 1] = eot
    with atomic_write(path) as f:
        f.write(memoryview(out).cast("B"))
    write_json_atomic({"plan": piece_sha, "tokens": int(out.size)}, marker)
    return int(out.size)


def concat_pieces(job: tuple, chunk: int = 1 << 24) -> str:
    """Sidecars first (``.idx`` from the lengths, ``.src``), then the pieces' bytes into the split's ``.bin``
    (its presence marks the set complete); returns the ``.bin``'s sha256. Runs as one task."""
    pieces, paths, lengths, sources, code = job
    if "idx" in paths:
        with atomic_write(paths["idx"]) as f:
            f.write(index_bytes(lengths, code))
        with atomic_write(paths["src"]) as f:
            f.write(np.asarray(sources).astype("<u2").tobytes())
    digest = hashlib.sha256()
    with atomic_write(paths["bin"]) as out:
        for p in pieces:
            fs, q = url_to_fs(p)
            with fs.open(q, "rb") as f:
                while block := f.read(chunk):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()
