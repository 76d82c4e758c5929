"""Bits per byte on hand-worked cases, and HellaSwag's ranking plumbing."""

from __future__ import annotations

import gzip
import json
import math

import pytest
import torch

from train_smoke.evaluate import EVAL_DIR, bits_per_byte, encode_texts, eval_texts, sum_nll, text_name
from train_smoke.hellaswag import HELLASWAG_FILE, hellaswag_accuracy, item_rows


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
    combined, per = bits_per_byte(Fixed(torch.zeros(256)), encode_texts(utf8_bytes, texts), bos=0, block_size=128)
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
    combined, _ = bits_per_byte(model, encode_texts(utf8_bytes, {"t": "abbaab"}), bos=ord("a"), block_size=4)
    assert combined == pytest.approx(1.0)


def test_hellaswag_scores_only_the_ending_three_ways():
    # p(byte b) ~ exp(-b / 10) everywhere: an ending's log-likelihood is -(n log Z + sum(b) / 10) over its n
    # bytes, whatever the context: acc picks the highest sum, acc_token the highest per token (byte), acc_norm
    # the highest per character (lm-eval-harness)
    with gzip.open(HELLASWAG_FILE, "rt") as f:
        items = [json.loads(line) for line in f][:100]
    log_z = torch.logsumexp(-torch.arange(256, dtype=torch.float64) / 10, 0).item()
    expected = {"acc": 0, "acc_norm": 0, "acc_token": 0}
    for it in items:
        ends = [" " + e for e in it["endings"]]
        ll = [-(len(b := e.encode()) * log_z + sum(b) / 10) for e in ends]
        for key, score in (("acc", ll), ("acc_token", [x / len(e.encode()) for x, e in zip(ll, ends, strict=True)]),
                           ("acc_norm", [x / len(e) for x, e in zip(ll, ends, strict=True)])):
            expected[key] += int(score.index(max(score)) == it["label"])
    model = Fixed(-torch.arange(256, dtype=torch.float32) / 10)
    acc = hellaswag_accuracy(model, utf8_bytes, bos=0, block_size=512, limit=100)
    assert acc == pytest.approx({k: v / 100 for k, v in expected.items()})
    assert 0.05 < acc["acc_token"] < 0.6  # a heuristic, not a language model


def test_hellaswag_rows_start_with_endoftext_and_an_overlong_ending_keeps_what_fits():
    x, mask = item_rows([5, 6, 7], [[8, 9], [1] * 20], bos=0, block_size=8)
    assert x[0, :6].tolist() == [0, 5, 6, 7, 8, 9]  # the context starts with <|endoftext|>, as training documents
    assert mask[0].tolist()[:5] == [0, 0, 0, 1, 1]  # positions 3 and 4 predict the ending's two tokens
    # an ending of block_size + 1 tokens or more: the last 9 tokens, all of them ending, 8 of them predicted
    assert x[1].tolist() == [1] * 9 and mask[1].sum() == 8 and mask.shape == (2, 8)
