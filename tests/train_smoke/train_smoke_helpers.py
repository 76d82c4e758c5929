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
    after an ``<|endoftext|>``, with ``.idx`` sidecars and a manifest naming the tokenizer."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer / "tokenizer.json"))
    eot = tok.token_to_id(EOT)
    splits: dict[str, list[str]] = {"train": [], "val": []}
    for i, d in enumerate(docs):
        splits["val" if i % val_every == val_every - 1 else "train"].append(d)
    for split, texts in splits.items():
        ids = [[eot, *e.ids] for e in tok.encode_batch(texts, add_special_tokens=False)]
        starts = np.cumsum([0] + [len(x) for x in ids[:-1]])
        write_shard(mix_dir / f"{split}-00000.bin", np.concatenate(ids), starts, version_for_vocab(VOCAB))
    (mix_dir / "manifest.json").write_text(json.dumps({"name": mix_dir.name, "tokenizer": str(tokenizer)}))
    return mix_dir
