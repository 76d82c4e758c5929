"""The encoder ``pack`` uses: tiktoken over the exported ranks, checked against ``tokenizer.json``.

tiktoken with ``tokenizer.tiktoken`` and the split pattern of ``tokenizer.json`` gives the same ids as HF
``tokenizers`` on that ``tokenizer.json`` (tests/tokenize_bpe/test_encode.py checks every document of a real
sample) and encodes several times faster (``bench/pack.py``). :func:`load_encoder` re-checks equality on a
fixed English text at load time and falls back to HF's encoder if the two ever disagree. Documents are
encoded as ordinary text: a literal ``<|endoftext|>`` inside a document is text, never the separator.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus_forge.io import local_file, path_exists, read_bytes, read_text
from tokenize_bpe.export import EOT, TIKTOKEN_FILE, TOKENIZER_JSON, load_ranks

EVAL_TEXT = Path(__file__).parent / "data" / "pride_and_prejudice.txt.gz"


def read_eval_text(path: str | Path = EVAL_TEXT) -> str:
    import gzip

    raw = read_bytes(path)
    if str(path).endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def split_pattern(tokenizer_json: str | Path) -> str:
    """The split regex of an exported ``tokenizer.json`` (its first pre-tokenizer)."""
    spec = json.loads(read_text(tokenizer_json))
    pre = spec.get("pre_tokenizer") or {}
    for p in pre.get("pretokenizers", [pre]):
        if p.get("type") == "Split":
            return p["pattern"]["Regex"]
    raise ValueError(f"{tokenizer_json}: no Split pre-tokenizer (not exported by corpus-forge bpe)")


def tiktoken_encoding(tokenizer_dir: str | Path):  # -> tiktoken.Encoding
    import tiktoken

    d = str(tokenizer_dir).rstrip("/")
    ranks = load_ranks(f"{d}/{TIKTOKEN_FILE}")
    return tiktoken.Encoding(name=f"corpus-forge:{os.path.basename(d)}", pat_str=split_pattern(f"{d}/{TOKENIZER_JSON}"),
                             mergeable_ranks=ranks, special_tokens={EOT: len(ranks)})


def hf_tokenizer(tokenizer_json: str | Path):  # -> tokenizers.Tokenizer
    """HF tokenizer with special tokens in documents treated as text (as tiktoken's encode_ordinary)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(local_file(tokenizer_json))
    tok.encode_special_tokens = True
    return tok


@dataclass
class Encoder:
    """Encodes batches of documents; ``eot`` is the separator id, ``kind`` the backend."""

    kind: str
    eot: int
    vocab_size: int
    impl: Any
    threads: int = 1

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self.kind == "tiktoken":
            return self.impl.encode_ordinary_batch(texts, num_threads=self.threads)
        return [e.ids for e in self.impl.encode_batch(texts, add_special_tokens=False)]


def check_same(texts: list[str], a: Encoder, b: Encoder) -> int:
    """Number of texts on which two encoders disagree."""
    return sum(x != y for x, y in zip(a.encode_batch(texts), b.encode_batch(texts), strict=True))


@functools.lru_cache(maxsize=4)
def load_encoder(tokenizer_dir: str, check_chars: int = 200_000) -> Encoder:
    """tiktoken when it matches ``tokenizer.json`` on the first ``check_chars`` of the evaluation text.

    Cached per process, so each Dask worker loads the tokenizer once.
    """
    d = tokenizer_dir.rstrip("/")
    hf = hf_tokenizer(f"{d}/{TOKENIZER_JSON}")
    eot = hf.token_to_id(EOT)
    if eot is None:
        raise ValueError(f"{d}/{TOKENIZER_JSON}: no {EOT} token")
    slow = Encoder("hf", eot, hf.get_vocab_size(), hf)
    if not path_exists(f"{d}/{TIKTOKEN_FILE}"):
        return slow
    fast = Encoder("tiktoken", eot, hf.get_vocab_size(), tiktoken_encoding(d))
    sample = read_eval_text()[:check_chars]
    pieces = [sample[i : i + 2000] for i in range(0, len(sample), 2000)]
    return fast if check_same(pieces, fast, slow) == 0 else slow
