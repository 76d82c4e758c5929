"""Real text packed into real llm.c shards for the train_smoke tests (tests/data/train_smoke, see SOURCES.md):
books cut into documents, a small byte-level BPE trained on them, documents packed as a mix."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from tokenize_bpe.shards import version_for_vocab, write_shard

DATA = Path(__file__).parents[1] / "data" / "train_smoke"
VOCAB = 512
EOT = "<|endoftext|>"


def book_docs(name: str, lines_per_doc: int = 40, max_docs: int | None = None) -> list[str]:
    """A book as documents of ``lines_per_doc`` lines (its files have a sentence per line)."""
    lines = gzip.open(DATA / f"{name}.txt.gz", "rt", encoding="utf-8").read().splitlines()
    docs = ["\n".join(lines[i : i + lines_per_doc]) for i in range(0, len(lines), lines_per_doc)]
    return docs[:max_docs]


def train_tokenizer(texts: list[str], out: Path, vocab_size: int = VOCAB) -> Path:
    """A GPT-2-style byte-level BPE with ``<|endoftext|>`` as its last id, saved as ``out/tokenizer.json``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([EOT])
    assert tok.token_to_id(EOT) == tok.get_vocab_size() - 1 == vocab_size - 1
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    return out


def pack(mix_dir: Path, docs: list[str], tokenizer: Path, val_every: int = 10) -> Path:
    """Every ``val_every``-th document to ``val-00000.bin``, the rest to ``train-00000.bin``, each document
    after an ``<|endoftext|>``, with ``.idx`` / ``.src`` sidecars and a manifest naming the tokenizer."""
    return pack_sources(mix_dir, {mix_dir.name: docs}, tokenizer, val_every=val_every, shuffle=False)


def pack_sources(mix_dir: Path, sources: dict[str, list[str]], tokenizer: Path, val_every: int = 10,
                 shard_tokens: int | None = None, shuffle: bool = True, seed: int = 0) -> Path:
    """Several sources' documents in one mix, as ``pack`` lays it out: documents shuffled together, train
    shards cut every ``shard_tokens`` tokens (a document may run on into the next shard), ``.idx`` of document
    starts, ``.src`` of their sources, a manifest with each source's tokens and achieved weight and each shard's
    tokens per source and ``head_source``."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer / "tokenizer.json"))
    eot = tok.token_to_id(EOT)
    names = list(sources)
    splits: dict[str, list[tuple[int, list[int]]]] = {"train": [], "val": []}
    for s, name in enumerate(names):
        ids = [[eot, *e.ids] for e in tok.encode_batch(sources[name], add_special_tokens=False)]
        for i, d in enumerate(ids):
            splits["val" if i % val_every == val_every - 1 else "train"].append((s, d))
    rng = np.random.default_rng(seed)
    shards, per_source = [], np.zeros(len(names), np.int64)
    mix_dir.mkdir(parents=True, exist_ok=True)
    for split, docs in splits.items():
        if shuffle:
            docs = [docs[i] for i in rng.permutation(len(docs))]
        toks = np.concatenate([d for _, d in docs])
        src_of_token = np.concatenate([np.full(len(d), s) for s, d in docs])
        starts = np.cumsum([0] + [len(d) for _, d in docs[:-1]])
        srcs = np.array([s for s, _ in docs])
        size = shard_tokens if split == "train" and shard_tokens else len(toks)
        for k, lo in enumerate(range(0, len(toks), size)):
            hi = min(len(toks), lo + size)
            inside = (starts >= lo) & (starts < hi)
            path = mix_dir / f"{split}-{k:05d}.bin"
            write_shard(path, toks[lo:hi], starts[inside] - lo, version_for_vocab(VOCAB))
            path.with_suffix(".src").write_bytes(srcs[inside].astype("<u2").tobytes())
            counts = np.bincount(src_of_token[lo:hi], minlength=len(names))
            if split == "train":
                per_source += counts
            head = None if inside.any() and starts[inside][0] == lo else int(src_of_token[lo])
            shards.append({"file": path.name, "split": split, "tokens": hi - lo, "head_source": head,
                           "tokens_per_source": {names[i]: int(c) for i, c in enumerate(counts) if c}})
    total = int(per_source.sum())
    manifest = {"mix": mix_dir.name, "tokenizer": str(tokenizer), "shards": shards,
                "sources": [{"name": n, "train_tokens": int(per_source[i]),
                             "achieved_weight": round(int(per_source[i]) / total, 6)} for i, n in enumerate(names)]}
    (mix_dir / "manifest.json").write_text(json.dumps(manifest))
    return mix_dir
