"""A fast English word and sentence splitter that reproduces spaCy's blank-English tokenizer.

datatrove's heuristic filters tokenise English with ``spacy.blank("en")`` plus a sentencizer, and that
dominates their cost. This module runs spaCy's own English rules (prefix/suffix/infix patterns, URL
pattern, the 1,347 tokenizer exceptions and the sentencizer's punctuation set, exported once to
``filters/data/spacy_en_rules.json`` by ``make_spacy_en_rules.py``) with the same affix-splitting
algorithm, in plain Python with a per-chunk cache: most whitespace-separated chunks are seen before, so
the cost is about one dict lookup per chunk. spaCy itself is not needed at run time.

Agreement with spaCy is measured, not assumed: ``bench/filter.py --agreement`` reports it on real pages
(token sequences and every filter's decisions), and ``tests/filters/test_heuristics.py`` checks it.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from functools import lru_cache
from typing import Any

_RULES_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "spacy_en_rules.json")
_CACHE_LIMIT = 200_000


class _Rules:
    def __init__(self) -> None:
        with open(_RULES_PATH, encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
        self.prefix = re.compile(data["prefix"]).search
        self.suffix = re.compile(data["suffix"]).search
        self.infix = re.compile(data["infix"]).finditer
        self.url = re.compile(data["url"]).match
        self.specials: dict[str, list[str]] = data["rules"]
        self.punct_chars = frozenset(data["sentence_punct_chars"])
        # exceptions that affix splitting would cut up: spaCy re-joins them in a final matcher pass
        self.affix_specials = {k: v for k, v in self.specials.items()
                               if self.prefix(k) or self.suffix(k) or any(True for _ in self.infix(k))}


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    return _Rules()


_chunk_cache: dict[str, tuple[str, ...]] = {}
_SUFFIX_WINDOW = 24


def _suffix_search(r: _Rules, string: str) -> re.Match[str] | None:
    """The ``$``-anchored suffix search, tried on the last characters first (same result, less scanning)."""
    start = len(string) - _SUFFIX_WINDOW
    if start > 0:
        m = r.suffix(string, start)  # lookbehinds still see the characters before ``start``
        if m is None or m.start() > start:
            return m
    return r.suffix(string)


def _split_chunk(chunk: str, r: _Rules) -> tuple[str, ...]:
    """spaCy's ``Tokenizer._split_affixes`` + ``_attach_tokens`` for one whitespace-free chunk."""
    specials = r.specials
    prefixes: list[str] = []
    suffixes: list[str] = []
    string = chunk
    last = -1
    while string and len(string) != last:
        if string in specials:
            break
        last = len(string)
        m = r.prefix(string)
        pre_len = m.end() - m.start() if m else 0
        if pre_len:
            minus_pre = string[pre_len:]
            if minus_pre and minus_pre in specials:
                prefixes.append(string[:pre_len])
                string = minus_pre
                break
        m = _suffix_search(r, string[pre_len:] if pre_len else string)
        suf_len = m.end() - m.start() if m else 0
        if suf_len:
            minus_suf = string[:-suf_len]
            if minus_suf and minus_suf in specials:
                suffixes.append(string[-suf_len:])
                string = minus_suf
                break
        if pre_len and suf_len and pre_len + suf_len <= len(string):
            prefixes.append(string[:pre_len])
            suffixes.append(string[-suf_len:])
            string = string[pre_len:-suf_len]
        elif pre_len:
            prefixes.append(string[:pre_len])
            string = string[pre_len:]
        elif suf_len:
            suffixes.append(string[-suf_len:])
            string = string[:-suf_len]
        if string and string in specials:
            break
    out = prefixes
    if string:
        special = specials.get(string)
        if special is not None:
            out.extend(special)
        elif r.url(string):
            out.append(string)
        else:
            start = 0
            for m in r.infix(string):
                s, e = m.start(), m.end()
                if s == 0:
                    continue
                if s != start:
                    out.append(string[start:s])
                if s != e:
                    out.append(string[s:e])
                start = e
            if string[start:]:
                out.append(string[start:])
    out.extend(reversed(suffixes))
    return tuple(out)


def _merge_specials(toks: tuple[str, ...], r: _Rules) -> tuple[str, ...]:
    """spaCy's special-case matcher pass: runs of tokens spelling an exception become that exception.

    Longest runs first, then leftmost; runs never overlap (``Tokenizer._filter_special_spans``).
    """
    n = len(toks)
    found: list[tuple[int, int]] = []
    for i in range(n):
        text = toks[i]
        for j in range(i + 1, min(n, i + 6)):
            text += toks[j]
            if text in r.affix_specials:
                found.append((i, j + 1))
    if not found:
        return toks
    found.sort(key=lambda se: (se[0] - se[1], se[0]))
    taken: set[int] = set()
    spans: list[tuple[int, int]] = []
    for s, e in found:
        if not taken.intersection(range(s, e)):
            taken.update(range(s, e))
            spans.append((s, e))
    spans.sort()
    out: list[str] = []
    pos = 0
    for s, e in spans:
        out.extend(toks[pos:s])
        out.extend(r.affix_specials["".join(toks[s:e])])
        pos = e
    out.extend(toks[pos:])
    return tuple(out)


def chunk_tokens(chunk: str) -> tuple[str, ...]:
    """Tokens of one whitespace-free chunk (cached)."""
    toks = _chunk_cache.get(chunk)
    if toks is None:
        r = _rules()
        special = r.specials.get(chunk)
        if special is not None:
            toks = tuple(special)
        elif chunk.isalpha():  # no English prefix, suffix or infix rule matches letters alone
            toks = (chunk,)
        else:
            toks = _split_chunk(chunk, r)
            if len(toks) > 1:
                toks = _merge_specials(toks, r)
        if len(_chunk_cache) >= _CACHE_LIMIT:
            _chunk_cache.clear()
        _chunk_cache[chunk] = toks
    return toks


@lru_cache(maxsize=1024)
def word_tokenize(text: str) -> list[str]:
    """Words as datatrove's English tokenizer returns them (spaCy tokens, whitespace tokens dropped).

    The last 1,024 documents' words are cached, so the filters of one batch tokenize a text once;
    callers must not modify the returned list.
    """
    out: list[str] = []
    cache = _chunk_cache
    for chunk in text.split():
        toks = cache.get(chunk)
        if toks is None:
            toks = chunk_tokens(chunk)
        if len(toks) == 1:
            out.append(toks[0])
        else:
            out.extend(t for t in toks if t.strip())
    return out


def _is_punct(tok: str) -> bool:
    return all(unicodedata.category(c).startswith("P") for c in tok)


_CHUNK = re.compile(r"\S+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans as spaCy's sentencizer finds them over these tokens (datatrove ``span_tokenize``).

    A sentence ends after a token from the sentencizer's punctuation set, at the next token that is
    neither punctuation nor from that set. Whitespace other than one space between chunks is a token of
    its own in spaCy; it counts here too.
    """
    if not text:
        return []
    punct = _rules().punct_chars
    starts = [0]
    seen_period = False
    prev_end = 0
    for m in _CHUNK.finditer(text):
        s = m.start()
        gap = text[prev_end:s]
        prev_end = m.end()
        # spaCy makes a token of whitespace other than the one space that follows a token
        if gap and gap != " " and seen_period:
            starts.append(s - len(gap) + (1 if gap.startswith(" ") else 0))
            seen_period = False
        pos = s
        for tok in chunk_tokens(m.group()):
            in_punct = tok in punct
            if seen_period and not in_punct and not _is_punct(tok):
                starts.append(pos)
                seen_period = False
            elif in_punct:
                seen_period = True
            pos += len(tok)
    tail = text[prev_end:]
    if tail and tail != " " and seen_period:
        starts.append(prev_end + (1 if tail.startswith(" ") else 0))
    bounds = [*starts[1:], len(text)]
    return [(a, b) for a, b in zip(starts, bounds, strict=True) if b > a]


def sent_tokenize(text: str) -> list[str]:
    return [s for a, b in sentence_spans(text) if (s := text[a:b].strip())]


@lru_cache(maxsize=1)
def datatrove_tokenizer() -> Any:
    """This splitter as a datatrove ``WordTokenizer``: pass it as ``language=`` to datatrove's filters."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class FastEnglishTokenizer(WordTokenizer):
        """spaCy-compatible English tokenizer without spaCy (see :mod:`filters.support.word_tokenizer`)."""

        def __init__(self) -> None:
            super().__init__("en")

        def word_tokenize(self, text: str) -> list[str]:
            return word_tokenize(text)

        def sent_tokenize(self, text: str) -> list[str]:
            return sent_tokenize(text)

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return sentence_spans(text)

        def __reduce__(self) -> Any:  # pickles as "the" instance of this process
            return (datatrove_tokenizer, ())

    return FastEnglishTokenizer()
