"""The options of the heuristic filters (:mod:`filters.heuristics`), with the published thresholds: Gopher (Rae et
al. 2021, table A1), C4 (Raffel et al. 2020) and FineWeb (Penedo et al. 2024), as datatrove's defaults give them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from corpus_forge.config import StageConfig

Tokenizer = Literal["fast", "spacy"]


class HeuristicConfig(StageConfig):
    """What every heuristic filter takes: the word tokenizer."""

    tokenizer: Tokenizer = Field("fast", description="'fast' (spaCy's rules without spaCy) or 'spacy'")


class GopherQualityConfig(HeuristicConfig):
    """Gopher (Rae et al. 2021, table A1) quality rules; datatrove's defaults = FineWeb's."""

    min_doc_words: int | None = Field(50, description="drop documents with fewer words (Gopher: 50; none = no check)")
    max_doc_words: int | None = Field(100_000, description="drop documents with more words (Gopher: 100,000)")
    min_avg_word_length: int | None = Field(3, description="drop if the mean word length in characters is below "
                                                          "this (Gopher: 3)")
    max_avg_word_length: int | None = Field(10, description="drop if the mean word length is above this (Gopher: 10)")
    max_symbol_word_ratio: float | None = Field(0.1, description="drop if '#' and ellipsis symbols per word exceed "
                                                                "this (Gopher: 0.1)")
    max_bullet_lines_ratio: float | None = Field(0.9, description="drop if more than this share of lines start "
                                                                  "with a bullet (Gopher: 0.9)")
    max_ellipsis_lines_ratio: float | None = Field(0.3, description="drop if more than this share of lines end "
                                                                    "with an ellipsis (Gopher: 0.3)")
    max_non_alpha_words_ratio: float | None = Field(0.8, description="drop unless at least this share of words "
                                                                     "holds a letter (Gopher: 80%)")
    min_stop_words: int | None = Field(2, description="drop documents with fewer of the stop words (Gopher: 2 of "
                                                      "the, be, to, of, and, that, have, with)")
    stop_words: list[str] | None = Field(None, description="the stop words to count; none = Gopher's eight")


class GopherRepetitionConfig(HeuristicConfig):
    """Gopher repetition thresholds (table A1); datatrove's defaults = FineWeb's."""

    dup_line_frac: float | None = Field(0.3, description="drop if more than this share of lines are repeats of "
                                                        "another line (Gopher: 0.3)")
    dup_para_frac: float | None = Field(0.3, description="drop if more than this share of paragraphs are repeats "
                                                        "(Gopher: 0.3)")
    dup_line_char_frac: float | None = Field(0.2, description="drop if repeated lines hold more than this share of "
                                                             "the characters (Gopher: 0.2)")
    dup_para_char_frac: float | None = Field(0.2, description="drop if repeated paragraphs hold more than this "
                                                             "share of the characters (Gopher: 0.2)")
    top_n_grams: list[tuple[int, float]] = Field(
        default_factory=lambda: [(2, 0.2), (3, 0.18), (4, 0.16)],
        description="[n, share]: drop if the most frequent n-gram covers more than this share of the characters "
                    "(Gopher: 2-4-grams, 0.20 / 0.18 / 0.16)")
    dup_n_grams: list[tuple[int, float]] = Field(
        default_factory=lambda: [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)],
        description="[n, share]: drop if repeated n-grams cover more than this share of the characters (Gopher: "
                    "5-10-grams, 0.15 down to 0.10)")


class C4Config(HeuristicConfig):
    """C4 (Raffel et al. 2020) rules as FineWeb ran them: no terminal-punctuation line filter."""

    split_paragraph: bool = Field(True, description="apply the line rules to each line (C4); false: to each "
                                                   "sentence")
    remove_citations: bool = Field(True, description="remove Wikipedia-style citation marks such as [1] (C4)")
    filter_no_terminal_punct: bool = Field(False, description="FineWeb: false (C4 itself: true)")
    min_num_sentences: int = Field(5, description="drop documents with fewer sentences (C4: 5)")
    min_words_per_line: int = Field(3, description="remove lines with fewer words (C4: 3)")
    max_word_length: int = Field(1000, description="remove lines with a word longer than this many characters "
                                                   "(C4: 1000)")
    filter_lorem_ipsum: bool = Field(True, description="drop documents that contain 'lorem ipsum' (C4)")
    filter_javascript: bool = Field(True, description="remove lines that mention javascript (C4)")
    filter_curly_bracket: bool = Field(True, description="drop documents that contain a curly bracket (C4: code)")
    filter_policy: bool = Field(True, description="remove lines about terms of use, privacy or cookie policies (C4)")
    rewrite_text: bool = Field(True, description="kept documents lose the lines C4 rejects (as in C4, FineWeb)")


class FineWebQualityConfig(HeuristicConfig):
    """FineWeb's own rules (Penedo et al. 2024), datatrove's defaults."""

    line_punct_thr: float = Field(0.12, description="drop if fewer than this share of lines end in terminal "
                                                   "punctuation (FineWeb: 0.12)")
    line_punct_exclude_zero: bool = Field(False, description="do not drop a document none of whose lines ends in "
                                                             "punctuation (FineWeb: false)")
    stop_chars: list[str] | None = Field(None, description="the terminal punctuation; none = datatrove's "
                                                           "TERMINAL_PUNCTUATION (. ! ? and their forms in other "
                                                           "scripts)")
    short_line_thr: float = Field(0.67, description="drop if more than this share of lines are short (FineWeb: "
                                                    "0.67)")
    short_line_length: int = Field(30, description="a line of at most this many characters is short (FineWeb: 30)")
    char_duplicates_ratio: float = Field(0.01, description="drop if repeated lines hold more than this share of the "
                                                           "characters (FineWeb: 0.01)")
    new_line_ratio: float = Field(0.3, description="drop if there are more than this many line breaks per word "
                                                   "(FineWeb: 0.3)")
