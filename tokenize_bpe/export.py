"""Mergeable ranks → ``tokenizer.json`` (HF ``tokenizers``) and ``tokenizer.tiktoken`` (tiktoken's format).

``tokenizer.json``: a BPE model over GPT-2's byte-to-character alphabet, the merges recovered from the ranks
(each token of rank r splits into the two parts that BPE with ranks < r leaves), ``ignore_merges`` (a
pre-token that is itself a token is emitted whole, as tiktoken does), the split regex then ByteLevel as
pre-tokenizer, a ByteLevel decoder, and ``<|endoftext|>`` as a special token after the merges
(id = number of ranks = vocab_size - 1, as in GPT-2 and llm.c). No post-processor: callers add the
separator themselves. ``tokenizer.tiktoken``: ``base64(token bytes) rank`` per line, as
``tiktoken.load.load_tiktoken_bpe`` reads it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from corpus_forge.io import url_to_fs, write_text_atomic
from tokenize_bpe.train_merges import Ranks, byte_unicode

EOT = "<|endoftext|>"
TOKENIZER_JSON = "tokenizer.json"
TIKTOKEN_FILE = "tokenizer.tiktoken"


def _split_in_two(ranks: Ranks, token: bytes, max_rank: int) -> tuple[bytes, bytes]:
    """The two parts BPE leaves of ``token`` using only ranks below ``max_rank`` (its merge)."""
    splits = [(token[:i], token[i:]) for i in range(1, len(token))
              if ranks.get(token[:i], max_rank) < max_rank and ranks.get(token[i:], max_rank) < max_rank]
    if len(splits) == 1:  # BPE must end in one of these; with a single candidate, no need to run it
        return splits[0]
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best < 0:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} (rank {max_rank}) is not one merge of two lower-ranked tokens")
    return parts[0], parts[1]


def recover_merges(ranks: Ranks) -> list[tuple[bytes, bytes]]:
    """Merges in rank order: one pair per multi-byte token."""
    return [_split_in_two(ranks, tok, r) for tok, r in sorted(ranks.items(), key=lambda kv: kv[1]) if len(tok) > 1]


def check_ranks(ranks: Ranks) -> None:
    """Ranks must be 0..n-1 with all 256 single bytes (the full byte alphabet)."""
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError("ranks are not the contiguous ids 0..n-1")
    if sum(1 for t in ranks if len(t) == 1) != 256:
        raise ValueError("ranks lack some of the 256 single bytes")


def build_hf_tokenizer(ranks: Ranks, pattern: str):  # -> tokenizers.Tokenizer
    """The ``tokenizers.Tokenizer`` that encodes as tiktoken does with these ranks."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    check_ranks(ranks)
    b2u = byte_unicode()

    def u(b: bytes) -> str:
        return "".join(b2u[x] for x in b)

    vocab = {u(t): r for t, r in ranks.items()}
    merges = [(u(a), u(b)) for a, b in recover_merges(ranks)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(EOT, special=True, normalized=False)])
    if tok.token_to_id(EOT) != len(ranks):
        raise AssertionError(f"{EOT} got id {tok.token_to_id(EOT)}, expected {len(ranks)}")
    return tok


def tiktoken_text(ranks: Ranks) -> str:
    return "".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in sorted(ranks.items(), key=lambda kv: kv[1]))


def export(ranks: Ranks, pattern: str, out_dir: str | Path) -> dict[str, str]:
    """Write ``tokenizer.json`` and ``tokenizer.tiktoken`` into ``out_dir`` (a folder or URL); return their paths."""
    tok = build_hf_tokenizer(ranks, pattern)
    paths = {"tokenizer_json": os.path.join(str(out_dir), TOKENIZER_JSON),
             "tiktoken": os.path.join(str(out_dir), TIKTOKEN_FILE)}
    write_text_atomic(paths["tokenizer_json"], tok.to_str(pretty=True))
    write_text_atomic(paths["tiktoken"], tiktoken_text(ranks))
    return paths


def load_ranks(path: str | Path) -> Ranks:
    """Read a ``.tiktoken`` file (no network, unlike ``tiktoken.load`` with URLs)."""
    ranks: Ranks = {}
    fs, p = url_to_fs(path)
    with fs.open(p, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected 'base64-token rank'") from None
    return ranks
