"""Training and export: the byte alphabet, <|endoftext|>, tokenizer.json in HF and transformers, tiktoken parity."""

from __future__ import annotations

import json

import pytest
from tokens_helpers import VOCAB, english_training_texts, jsonl_texts, read_text

from tokenize_bpe.encode import Encoder, hf_tokenizer, load_encoder, tiktoken_encoding
from tokenize_bpe.export import EOT, build_hf_tokenizer, export, load_ranks, recover_merges
from tokenize_bpe.train_merges import chunk_text, resolve_pattern, train_ranks


def _real_sample(text_dir) -> list[str]:
    """Every document of the real sample: 20 Dolma web pages, 10 non-Latin pages, 15 wiki pages, 5 books."""
    docs = jsonl_texts("cc_en_head-0091.jsonl.gz") + jsonl_texts("cc_en_head-0174.jsonl.gz")
    docs += jsonl_texts("nonlatin.jsonl")
    docs += [read_text(p) for p in sorted((text_dir / "wiki").glob("*.txt.gz"))]
    docs += [read_text(p) for p in sorted((text_dir / "books").glob("*.txt.gz"))]
    return docs


def test_endoftext_is_the_last_id_never_zero(tokenizer_dir):
    hf = hf_tokenizer(tokenizer_dir / "tokenizer.json")
    assert hf.token_to_id(EOT) == VOCAB - 1
    assert hf.get_vocab_size() == VOCAB
    assert hf.id_to_token(0) != EOT
    ranks = load_ranks(tokenizer_dir / "tokenizer.tiktoken")
    assert len(ranks) == VOCAB - 1 and sorted(ranks.values()) == list(range(VOCAB - 1))
    assert sum(len(t) == 1 for t in ranks) == 256  # the full byte alphabet


def test_unseen_scripts_and_emoji_round_trip(tokenizer_dir):
    seen = set("".join(english_training_texts()))
    hf, tk = hf_tokenizer(tokenizer_dir / "tokenizer.json"), tiktoken_encoding(tokenizer_dir)
    docs = jsonl_texts("nonlatin.jsonl")
    unseen = {c for d in docs for c in d} - seen
    scripts = {"han": (0x4E00, 0x9FFF), "kana": (0x3040, 0x30FF), "hangul": (0xAC00, 0xD7AF),
               "cyrillic": (0x0400, 0x04FF), "arabic": (0x0600, 0x06FF), "emoji": (0x1F300, 0x1FAFF)}
    for name, (lo, hi) in scripts.items():
        # every script has characters that the training sample never had (Arabic: 14 letters; emoji: 5 distinct)
        assert len([c for c in unseen if lo <= ord(c) <= hi]) >= (5 if name == "emoji" else 10), name
    for doc in [*docs, "🏳️\u200d🌈 naïve café — 東京 👩\u200d👩\u200d👧"]:
        ids = tk.encode_ordinary(doc)
        assert tk.decode(ids) == doc
        assert hf.decode(hf.encode(doc, add_special_tokens=False).ids) == doc


def test_tiktoken_and_hf_give_identical_ids_on_every_document(tokenizer_dir, text_dir):
    docs = _real_sample(text_dir)
    hf = Encoder("hf", VOCAB - 1, VOCAB, hf_tokenizer(tokenizer_dir / "tokenizer.json"))
    tk = Encoder("tiktoken", VOCAB - 1, VOCAB, tiktoken_encoding(tokenizer_dir))
    a, b = hf.encode_batch(docs), tk.encode_batch(docs)
    assert len(docs) == 50 and sum(map(len, a)) > 400_000
    mismatched = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    assert mismatched == []
    assert load_encoder(str(tokenizer_dir)).kind == "tiktoken"  # the load-time check passes, so pack uses it


def test_literal_endoftext_in_a_document_is_text_not_the_separator(tokenizer_dir):
    enc = load_encoder(str(tokenizer_dir))
    hf = Encoder("hf", VOCAB - 1, VOCAB, hf_tokenizer(tokenizer_dir / "tokenizer.json"))
    text = "a forum post quoting <|endoftext|> verbatim"
    ids = enc.encode_batch([text])[0]
    assert VOCAB - 1 not in ids and ids == hf.encode_batch([text])[0]


def test_tokenizer_json_loads_in_transformers(tokenizer_dir):
    transformers = pytest.importorskip("transformers")
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_dir / "tokenizer.json"),
                                               eos_token=EOT)
    text = "It is a truth universally acknowledged, that a single man in possession of a good fortune"
    assert tok.eos_token_id == VOCAB - 1
    assert tok(text)["input_ids"] == tiktoken_encoding(tokenizer_dir).encode_ordinary(text)
    assert tok.decode(tok(text)["input_ids"]) == text


@pytest.mark.parametrize("trainer,pattern", [("hf", "gpt2"), ("rustbpe", "gpt4")])
def test_each_trainer_and_pattern_exports_the_same_encoding_in_both_libraries(tmp_path, text_dir, trainer, pattern):
    texts = [c for t in english_training_texts()[:3] for c in chunk_text(t, 1 << 14)]
    ranks = train_ranks(texts, 600, pattern, trainer)
    export(ranks, resolve_pattern(pattern), tmp_path)
    assert len(ranks) == 599 and sum(len(t) == 1 for t in ranks) == 256
    docs = _real_sample(text_dir)[:45]
    hf = hf_tokenizer(tmp_path / "tokenizer.json")
    tk = tiktoken_encoding(tmp_path)
    assert [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)] == tk.encode_ordinary_batch(docs)
    assert json.loads((tmp_path / "tokenizer.json").read_text())["added_tokens"][0]["id"] == 599


def test_merges_rebuild_every_token_from_two_lower_ranked_ones(tokenizer_dir):
    ranks = load_ranks(tokenizer_dir / "tokenizer.tiktoken")
    merges = recover_merges(ranks)
    assert len(merges) == len(ranks) - 256
    for a, b in merges[:200]:
        assert a + b in ranks and ranks[a] < ranks[a + b] and ranks[b] < ranks[a + b]
    # the exported HF tokenizer is rebuilt from those merges alone
    assert build_hf_tokenizer(ranks, resolve_pattern("gpt2")).get_vocab_size() == VOCAB


def test_chunks_join_back_and_respect_the_limit():
    text = english_training_texts()[0]
    pieces = list(chunk_text(text, 5000))
    assert "".join(pieces) == text
    assert max(map(len, pieces)) <= 5000 and len(pieces) > len(text) // 5000
    assert all(p.startswith(("\n", " ")) for p in pieces[1:])  # cut at whitespace, not inside a word


def test_unknown_trainer_and_tiny_vocab_are_errors():
    with pytest.raises(ValueError, match="unknown trainer"):
        train_ranks(["abc"], 300, "gpt2", "sentencepiece")
    with pytest.raises(ValueError, match="at least 256"):
        train_ranks(["abc"], 100, "gpt2")
