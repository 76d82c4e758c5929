"""Heuristic quality filters: datatrove's Gopher quality, Gopher repetition, C4 and FineWeb quality.

Thin adapters: each builds the datatrove filter class with the options given (defaults = FineWeb's
settings, which are datatrove's defaults except ``c4.filter_no_terminal_punct: false``) and asks it
about every document. Reasons are datatrove's, prefixed with our filter type, e.g.
``gopher_repetition:top_2_gram`` or ``fineweb_quality:line_punct_ratio``.

What we change is the English word tokenizer: datatrove's is ``spacy.blank("en")``, which dominates the
filters' cost; ``tokenizer: fast`` (the default) is :mod:`filters.support.word_tokenizer`, which applies spaCy's
own English rules without spaCy and gives the same tokens (measured; see that module).
``tokenizer: spacy`` uses datatrove's own (needs ``pip install spacy``).

Like C4 (and FineWeb), ``c4`` also deletes the lines it rejects from the documents it keeps
(``rewrite_text: true``); later filters see the cleaned text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from corpus_forge.cache import cached
from corpus_forge.config import validate
from filters.base import DocumentFilter, FilterResult, register_filter
from filters.heuristics_config import (
    C4Config,
    FineWebQualityConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    HeuristicConfig,
    Tokenizer,
)
from filters.support.word_tokenizer import datatrove_tokenizer, word_tokenize


def _language(tokenizer: Tokenizer) -> Any:
    """The ``language`` argument for datatrove's filters: our tokenizer object, or datatrove's English."""
    if tokenizer == "spacy":
        import importlib.util

        if importlib.util.find_spec("spacy") is None:
            raise ModuleNotFoundError("tokenizer: spacy needs spaCy (pip install spacy); or use tokenizer: fast")
        return "eng"

    return datatrove_tokenizer()


class DatatroveAdapter(DocumentFilter):
    """Runs one datatrove ``BaseFilter`` per document; subclasses name the class and its options."""

    name: ClassVar[str] = "datatrove"
    config_model: ClassVar[type[HeuristicConfig]] = HeuristicConfig
    # options that are ours, not the datatrove class's
    own_options: ClassVar[tuple[str, ...]] = ("tokenizer",)
    reason_names: ClassVar[dict[str, str]] = {}
    rewrites_text: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.config = validate(self.config_model, options, f"filters.{self.name}")

    def datatrove_class(self) -> type:
        raise NotImplementedError

    def datatrove_kwargs(self) -> dict[str, Any]:
        kw = self.config.model_dump(exclude=set(self.own_options))
        kw["language"] = _language(self.config.tokenizer)
        return kw

    @property
    def dt_filter(self) -> Any:
        """The datatrove filter object (built on first use, once per process)."""
        return cached(f"datatrove.{self.name}", self.config,
                      lambda: self.datatrove_class()(**self.datatrove_kwargs()))

    def reason(self, raw: str | None) -> str:
        raw = raw or "dropped"
        return self.drop_reason(self.reason_names.get(raw, raw))

    def filter_table(self, table: pa.Table) -> FilterResult:
        from datatrove.data import Document

        f = self.dt_filter
        texts = table.column("text").to_pylist()
        ids = table.column("id").to_pylist() if "id" in table.column_names else [str(i) for i in range(len(texts))]
        keep = np.ones(len(texts), dtype=bool)
        reasons: list[str | None] = [None] * len(texts)
        new_texts: list[str] | None = [] if self.rewrites_text else None
        for i, (doc_id, text) in enumerate(zip(ids, texts, strict=True)):
            doc = Document(text=text or "", id=str(doc_id))
            try:
                res = f.filter(doc)
            except (ZeroDivisionError, ValueError, IndexError):  # degenerate text, e.g. no words at all
                res = (False, "degenerate_text")
            ok, why = res if isinstance(res, tuple) else (res, None)
            if not ok:
                keep[i] = False
                reasons[i] = self.reason(why)
            if new_texts is not None:
                new_texts.append(doc.text if ok else (text or ""))
        cols: dict[str, Any] = {}
        if new_texts is not None:
            cols["text"] = pa.array(new_texts, type=pa.string())
        return FilterResult(keep, reasons, cols)


_word_flags: dict[str, tuple[bool, bool]] = {}


def _flags(word: str, punct: frozenset[str]) -> tuple[bool, bool]:
    """(has a character outside datatrove's punctuation set, has a letter) for one word, cached."""
    f = _word_flags.get(word)
    if f is None:
        f = (any(ch not in punct for ch in word), any(ch.isalpha() for ch in word))
        if len(_word_flags) > 500_000:
            _word_flags.clear()
        _word_flags[word] = f
    return f


@register_filter("gopher_quality")
class GopherQualityFilter(DocumentFilter):
    """Word count, mean word length, symbol ratios, bullet/ellipsis lines, alphabetic words, stop words.

    datatrove's ``GopherQualityFilter`` rules, checked in its order with its reasons, computed over the
    distinct words of a document (``Counter``) instead of word by word: same decisions, less Python
    (``tests/filters/test_heuristics.py`` compares the two on real pages).
    """

    name: ClassVar[str] = "gopher_quality"

    def __init__(self, **options: Any) -> None:
        self.config = validate(GopherQualityConfig, options, f"filters.{self.name}")
        from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

        self.stop_words = frozenset(STOP_WORDS if self.config.stop_words is None else self.config.stop_words)

    def check(self, text: str) -> str | None:
        from collections import Counter

        c = self.config
        punct = _punct_set()
        words = _words(text, c.tokenizer)
        n_words = len(words)
        counts = Counter(words)
        n_non_symbol = sum_len = n_alpha = 0
        for w, k in counts.items():
            non_symbol, alpha = _flags(w, punct)
            if non_symbol:
                n_non_symbol += k
                sum_len += len(w) * k
            if alpha:
                n_alpha += k
        if c.min_doc_words and n_non_symbol < c.min_doc_words:
            return "short_doc"
        if c.max_doc_words and n_non_symbol > c.max_doc_words:
            return "long_doc"
        avg = sum_len / n_non_symbol if n_non_symbol else float("nan")  # = np.mean, exact for int sums
        if c.min_avg_word_length and avg < c.min_avg_word_length:
            return "below_avg_word_length"
        if c.max_avg_word_length and avg > c.max_avg_word_length:
            return "above_avg_word_length"
        if c.max_symbol_word_ratio and text.count("#") / n_words > c.max_symbol_word_ratio:
            return "too_many_hashes"
        if c.max_symbol_word_ratio and (text.count("...") + text.count("…")) / n_words > c.max_symbol_word_ratio:
            return "too_many_ellipsis"
        lines = text.splitlines()
        if c.max_bullet_lines_ratio and sum(
            s.lstrip().startswith(("•", "-")) for s in lines
        ) / len(lines) > c.max_bullet_lines_ratio:
            return "too_many_bullets"
        if c.max_ellipsis_lines_ratio and sum(
            s.rstrip().endswith(("...", "…")) for s in lines
        ) / len(lines) > c.max_ellipsis_lines_ratio:
            return "too_many_end_ellipsis"
        if c.max_non_alpha_words_ratio and n_alpha / n_words < c.max_non_alpha_words_ratio:
            return "below_alpha_threshold"
        if c.min_stop_words and len(self.stop_words.intersection(counts)) < c.min_stop_words:
            return "not_enough_stop_words"
        return None

    def filter_table(self, table: pa.Table) -> FilterResult:
        return _run_checks(self, table)


_PARAGRAPH = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _find_duplicates(items: list[str]) -> tuple[int, int]:
    """datatrove's ``find_duplicates``: (repeated items, their characters), first occurrences excluded."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


class _NGrams:
    """Repeated word n-grams of one document, found on word hashes with numpy.

    An n-gram's hash is a polynomial of its words' hashes modulo 2**64 (equal n-grams hash equal; two
    different ones collide with probability ~2**-64). An n-gram can repeat only where its first n-1
    words repeat, so each n looks only at the positions that repeated for n-1: on most pages that
    set is empty by n = 5 and the rest costs nothing.
    """

    def __init__(self, words: list[str]) -> None:
        self.n_words = len(words)
        self.ids = np.fromiter(map(hash, words), dtype=np.int64, count=self.n_words).view(np.uint64)
        lens = np.fromiter(map(len, words), dtype=np.int64, count=self.n_words)
        self.cum = np.concatenate(([0], np.cumsum(lens)))
        self._rep: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _hash_at(self, pos: np.ndarray, n: int) -> np.ndarray:
        h = self.ids[pos]
        with np.errstate(over="ignore"):
            for k in range(1, n):
                h = h * _MIX + self.ids[pos + k]
        return h

    def repeated(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, hashes) of the n-grams that occur at least twice, positions ascending."""
        got = self._rep.get(n)
        if got is not None:
            return got
        last = self.n_words - n  # last valid start
        if n == 1:
            pos = np.arange(self.n_words)
        else:
            prev, _ = self.repeated(n - 1)
            pos = prev[prev <= last]
        if pos.size < 2:
            got = (pos[:0], self.ids[:0])
        else:
            h = self._hash_at(pos, n)
            order = np.argsort(h, kind="stable")
            sh = h[order]
            eq = sh[1:] == sh[:-1]
            rep = np.zeros(pos.size, dtype=bool)
            rep[1:] |= eq
            rep[:-1] |= eq
            keep = np.zeros(pos.size, dtype=bool)
            keep[order] = rep
            got = (pos[keep], h[keep])
        self._rep[n] = got
        return got

    def chars(self, pos: np.ndarray | int, n: int) -> np.ndarray:
        """Characters of the words of the n-grams starting at ``pos`` (without separators)."""
        return self.cum[np.asarray(pos) + n] - self.cum[pos]

    def top_duplicate_chars(self, n: int) -> int:
        """datatrove's ``find_top_duplicate`` on space-joined n-grams: len x count of the most common one
        (ties: the one seen first, as ``Counter.most_common(1)`` picks)."""
        pos, h = self.repeated(n)
        if not pos.size:  # every n-gram is unique: the first one wins with count 1
            return int(self.chars(0, n)) + n - 1
        order = np.argsort(h, kind="stable")  # within a hash, positions stay ascending
        sh, sp = h[order], pos[order]
        starts = np.flatnonzero(np.concatenate(([True], sh[1:] != sh[:-1])))
        counts = np.diff(np.concatenate((starts, [sh.size])))
        best = counts.max()
        first = int(sp[starts[counts == best]].min())
        return int((self.chars(first, n) + n - 1) * best)

    def all_duplicate_chars(self, n: int) -> int:
        """datatrove's ``find_all_duplicate``: a left-to-right scan that skips past each repeated n-gram.

        Positions whose n-gram occurs once never match, so the scan visits only the repeated ones.
        """
        pos, h = self.repeated(n)
        if not pos.size:
            return 0
        lengths = self.chars(pos, n).tolist()
        seen: set[int] = set()
        idx = repeated = 0
        for p, g, length in zip(pos.tolist(), h.tolist(), lengths, strict=True):
            if p < idx:
                continue
            if g in seen:
                repeated += length
                idx = p + n
            else:
                seen.add(g)
                idx = p + 1
        return repeated


@register_filter("gopher_repetition")
class GopherRepetitionFilter(DocumentFilter):
    """Duplicate lines/paragraphs and repeated n-grams; reasons e.g. ``dup_line_frac``, ``top_2_gram``.

    datatrove's ``GopherRepetitionFilter`` rules, order and reasons; the n-gram statistics are computed
    on word hashes with numpy instead of joined strings (same decisions on real pages, see the tests;
    several times faster).
    """

    name: ClassVar[str] = "gopher_repetition"

    def __init__(self, **options: Any) -> None:
        self.config = validate(GopherRepetitionConfig, options, f"filters.{self.name}")

    def check(self, text: str) -> str | None:
        c = self.config
        paragraphs = _PARAGRAPH.split(text.strip())
        dups, dup_chars = _find_duplicates(paragraphs)
        if c.dup_para_frac and dups / len(paragraphs) > c.dup_para_frac:
            return "dup_para_frac"
        if c.dup_para_char_frac and dup_chars / len(text) > c.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = _LINES.split(text)
        dups, dup_chars = _find_duplicates(lines)
        if c.dup_line_frac and dups / len(lines) > c.dup_line_frac:
            return "dup_line_frac"
        if c.dup_line_char_frac and dup_chars / len(text) > c.dup_line_char_frac:
            return "dup_line_char_frac"
        grams = _NGrams(_words(text, c.tokenizer))
        for n, frac in c.top_n_grams:
            if grams.n_words - n + 1 <= 0:
                continue
            if grams.top_duplicate_chars(n) / len(text) > frac:
                return f"top_{n}_gram"
        for n, frac in c.dup_n_grams:
            if grams.n_words - n + 1 <= 0:
                continue
            if grams.all_duplicate_chars(n) / len(text) > frac:
                return f"duplicated_{n}_n_grams"
        return None

    def filter_table(self, table: pa.Table) -> FilterResult:
        return _run_checks(self, table)


def _words(text: str, tokenizer: Tokenizer) -> list[str]:
    if tokenizer == "spacy":
        from datatrove.utils.text import split_into_words

        return split_into_words(text, "eng")

    return word_tokenize(text)


@lru_cache(maxsize=1)
def _punct_set() -> frozenset[str]:
    from datatrove.utils.text import PUNCTUATION_SET

    return frozenset(PUNCTUATION_SET)


def _run_checks(f: Any, table: pa.Table) -> FilterResult:
    """Apply ``f.check(text) -> None | reason`` to every document of a table."""
    texts = table.column("text").to_pylist()
    keep = np.ones(len(texts), dtype=bool)
    reasons: list[str | None] = [None] * len(texts)
    for i, text in enumerate(texts):
        if not text:
            why: str | None = "empty"
        else:
            try:
                why = f.check(text)
            except ZeroDivisionError:  # no words, no lines: nothing to measure
                why = "degenerate_text"
        if why is not None:
            keep[i] = False
            reasons[i] = f.drop_reason(why)
    return FilterResult(keep, reasons)


@register_filter("c4")
class C4QualityFilter(DatatroveAdapter):
    """Lorem ipsum, curly brackets, too few sentences; drops javascript/policy/short lines from the text."""

    name: ClassVar[str] = "c4"
    config_model = C4Config
    own_options = ("tokenizer", "rewrite_text")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.rewrites_text = self.config.rewrite_text

    def datatrove_class(self) -> type:
        from datatrove.pipeline.filters import C4QualityFilter as Cls

        return Cls


@register_filter("fineweb_quality")
class FineWebQualityFilter(DatatroveAdapter):
    """Lines ending in punctuation, short lines, duplicated line characters, newline-per-word ratio."""

    name: ClassVar[str] = "fineweb_quality"
    config_model = FineWebQualityConfig

    def datatrove_kwargs(self) -> dict[str, Any]:
        kw = super().datatrove_kwargs()
        if kw["stop_chars"] is not None:
            kw["stop_chars"] = tuple(kw["stop_chars"])
        return kw

    def datatrove_class(self) -> type:
        from datatrove.pipeline.filters import FineWebQualityFilter as Cls

        return Cls
