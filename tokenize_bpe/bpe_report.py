"""The ``bpe`` step's section of the run report: the tokenizer's size, training sample and bytes per token."""

from __future__ import annotations

from typing import Any

from corpus_forge.sections import Section, fmt, table


def section(step_dir: str, stats: dict[str, Any]) -> Section | None:
    """Vocabulary, trainer, the sample it was trained on, and UTF-8 bytes per token on the held-out documents
    and the evaluation text (higher is better), beside the reference tokenizer's when one was given."""
    if "vocab_size" not in stats:
        return None
    bpt = stats.get("bytes_per_token") or {}
    ref = stats.get("reference") or {}
    ref_bpt = ref.get("bytes_per_token") or {}
    rows = [
        ["vocabulary (incl. <|endoftext|>)", fmt(stats.get("vocab_size")), fmt(ref.get("vocab_size"))],
        ["trainer", stats.get("trainer", ""), ""],
        ["training documents", fmt(stats.get("training_documents")), ""],
        ["training bytes", fmt(stats.get("training_bytes")), ""],
        ["training seconds", fmt(stats.get("train_seconds"), 2), ""],
        ["held-out documents", fmt(stats.get("heldout_documents")), ""],
        ["bytes per token, held-out documents", fmt(bpt.get("heldout")), fmt(ref_bpt.get("heldout"))],
        [f"bytes per token, {stats.get('eval_text', 'evaluation text')}", fmt(bpt.get("eval_text")),
         fmt(ref_bpt.get("eval_text"))],
    ]
    header = ["figure", "this tokenizer", f"reference ({ref['path']})" if ref else "reference"]
    if not ref:
        rows, header = [r[:2] for r in rows], header[:2]
    return Section("Tokenizer", table(header, rows, caption="bytes per token: higher is better"))
