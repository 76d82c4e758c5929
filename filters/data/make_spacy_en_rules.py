"""Regenerate ``spacy_en_rules.json``: spaCy's English tokenizer rules, for :mod:`filters.support.word_tokenizer`.

Run once by a developer with spaCy installed (``pip install spacy``); at run time corpus-forge reads the
JSON and needs no spaCy. spaCy is MIT-licensed (Copyright (C) 2016-2024 ExplosionAI GmbH, 2016 spaCy GmbH,
2015 Matthew Honnibal); the rules below are its ``English.Defaults`` prefix/suffix/infix patterns,
URL pattern, tokenizer exceptions and the sentencizer's punctuation characters.

    python filters/data/make_spacy_en_rules.py
"""

from __future__ import annotations

import json
import os

import spacy
from spacy.pipeline import Sentencizer


def main() -> None:
    nlp = spacy.blank("en")
    tok = nlp.tokenizer
    rules = {key: [piece[65] for piece in pieces] for key, pieces in sorted(tok.rules.items())}  # 65 = ORTH
    data = {
        "source": f"spaCy {spacy.__version__} English.Defaults (MIT licence)",
        "prefix": tok.prefix_search.__self__.pattern,
        "suffix": tok.suffix_search.__self__.pattern,
        "infix": tok.infix_finditer.__self__.pattern,
        "url": tok.url_match.__self__.pattern,
        "rules": rules,
        "sentence_punct_chars": sorted(Sentencizer.default_punct_chars),
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spacy_en_rules.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write("\n")
    print(f"wrote {out} ({os.path.getsize(out):,} bytes, {len(rules)} exceptions)")


if __name__ == "__main__":
    main()
