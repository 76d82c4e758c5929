"""Helpers for the dedup tests: real article texts, an independent shingler, controlled edits."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

DATA = Path(__file__).parents[2] / "data" / "dedup"


def load_articles() -> list[dict]:
    """40 real news/blog articles (scrapinghub AEB ground truth), each >= 250 words."""
    with gzip.open(DATA / "aeb_articles.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def words(text: str) -> list[str]:
    """An independent, plain-regex version of the normalization (lowercase, digits -> 0, punctuation
    -> space): used to compute expected Jaccard values without the code under test."""
    text = re.sub(r"\d+", "0", text.lower())
    return re.sub(r"[^\w\s]|_", " ", text).split()


def shingle_set(text: str, n: int = 5) -> set[tuple[str, ...]]:
    w = words(text)
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def true_jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = shingle_set(a, n), shingle_set(b, n)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def substitute(text: str, every: int, seed: int = 0) -> str:
    """Replace every ``every``-th word by a word from a fixed vocabulary (typo/rewording edits)."""
    rng = random.Random(seed)
    vocab = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    w = text.split()
    return " ".join(rng.choice(vocab) + "x" if i % every == every // 2 else x for i, x in enumerate(w))


def delete_block(text: str, fraction: float, start: float = 0.3) -> str:
    """Delete a contiguous block of words (a paragraph cut)."""
    w = text.split()
    a = int(len(w) * start)
    return " ".join(w[:a] + w[a + int(len(w) * fraction):])


def add_boilerplate(text: str, n_words: int) -> str:
    """Prepend a navigation header and append a footer, ``n_words`` words in all (template change)."""
    head = "Home News Sport Business Culture Opinion Subscribe Sign in Search menu".split()
    foot = ("Share this article on Facebook Twitter Email Copyright all rights reserved terms of use "
            "privacy policy cookie settings contact us advertise with us").split()
    pool = (head + foot) * (n_words // len(head + foot) + 1)
    return " ".join(pool[: n_words // 2]) + "\n\n" + text + "\n\n" + " ".join(pool[n_words // 2: n_words])
