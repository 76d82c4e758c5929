"""Bits per byte on hand-worked cases, and HellaSwag's ranking plumbing."""

from __future__ import annotations

import gzip
import json
import math

import pytest
import torch

from train_smoke.evaluate import (
    EVAL_DIR,
    HELLASWAG_FILE,
    bits_per_byte,
    eval_texts,
    hellaswag_accuracy,
    sum_nll,
    text_name,
)


class Fixed(torch.nn.Module):
    """A "model" whose next-token distribution is the same everywhere: softmax(logits)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.logits.expand(*idx.shape, -1), None


def utf8_bytes(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def test_the_shipped_evaluation_texts_are_named_by_file_stem():
    assert sorted(eval_texts()) == ["pride_and_prejudice", "wikitext2_test"]
    assert text_name(EVAL_DIR / "wikitext2_test.txt.gz") == "wikitext2_test"


def test_a_uniform_model_over_256_byte_tokens_scores_8_bits_per_byte():
    # every byte costs ln 256 nats = 8 bits, on any text (here the real, non-ASCII-bearing shipped texts)
    texts = eval_texts()
    assert any(ord(c) > 127 for c in texts["pride_and_prejudice"])  # curly quotes: 3 bytes each
    combined, per = bits_per_byte(Fixed(torch.zeros(256)), utf8_bytes, texts, bos=0, block_size=128)
    # (to float32's rounding of ln 256 = 5.5451774, 2e-7 relative)
    assert per == pytest.approx({"pride_and_prejudice": 8.0, "wikitext2_test": 8.0}, abs=1e-5)
    assert combined == pytest.approx(8.0, abs=1e-5)


def test_two_equally_likely_bytes_cost_one_bit_each_across_window_boundaries():
    # p('a') = p('b') = 1/2, every other byte impossible: "abbaab" is 6 bytes of 1 bit, bpb = 1.0
    logits = torch.full((256,), -math.inf)
    logits[[ord("a"), ord("b")]] = 0.0
    model = Fixed(logits)
    for block in (1, 4, 6, 64):  # windows of 1, 4 + 2, 6, or all at once: each byte scored exactly once
        nats = sum_nll(model, utf8_bytes("abbaab"), bos=ord("a"), block_size=block)
        assert nats == pytest.approx(6 * math.log(2))
    combined, _ = bits_per_byte(model, utf8_bytes, {"t": "abbaab"}, bos=ord("a"), block_size=4)
    assert combined == pytest.approx(1.0)


def test_hellaswag_scores_only_the_ending_by_its_mean_token_loss():
    # p(byte b) ~ exp(-b / 10) everywhere: an ending's mean loss is log Z + mean(b) / 10, so the model picks
    # the ending whose bytes (with the leading space) have the smallest mean value, whatever the context
    with gzip.open(HELLASWAG_FILE, "rt") as f:
        items = [json.loads(line) for line in f][:100]
    expected = 0
    for it in items:
        means = [sum(b := (" " + e).encode()) / len(b) for e in it["endings"]]
        expected += int(means.index(min(means)) == it["label"])
    model = Fixed(-torch.arange(256, dtype=torch.float32) / 10)
    acc = hellaswag_accuracy(model, utf8_bytes, block_size=512, limit=100)
    assert acc == expected / 100
    assert 0.05 < acc < 0.6  # a heuristic, not a language model
