"""Benchmark items planted into real pages are found and cut out as GPT-3 specifies; clean pages are left.

Expected texts are computed here from where the item was planted and the rule (cut the match ± 200
characters, split, drop pieces under 200 characters, drop the document past 10 pieces), not from the
stage's own output.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from decontam_helpers import DATA, doc_table, plant, write_parts

from corpus_forge.stats import Counters
from filters import decontam as dc
from filters.support.benchmarks import load_benchmark
from filters.support.ngrams import words
from pipelines.decontaminate import BENCH_COLUMN, EXCISED_COLUMN, DecontaminateStage

W = dc.EXCISE_WINDOW


def check_accounting(res, n_in: int) -> None:
    c: Counters = res.counters
    assert c.documents_in == n_in == c.documents_out + sum(c.removed.values())
    assert res.kept.num_rows == c.documents_out and res.removed.num_rows == sum(c.removed.values())
    c.check()


def expected_excision(doc: str, cuts: list[tuple[int, int]]) -> str | None:
    """The rule, written out independently: cut each span ± W, keep stripped pieces ≥ 200 chars."""
    marks = [False] * len(doc)
    for a, b in cuts:
        for i in range(max(0, a - W), min(len(doc), b + W)):
            marks[i] = True
    pieces, cur = [], []
    for ch, cut in zip(doc, marks, strict=True):
        if cut:
            if cur:
                pieces.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        pieces.append("".join(cur))
    pieces = [p.strip() for p in pieces if p.strip()]
    if len(pieces) > dc.MAX_PIECES:
        return None
    kept = [p for p in pieces if len(p) >= dc.MIN_PIECE_CHARS]
    return "\n\n".join(kept) if kept else None


@pytest.fixture(scope="module")
def gsm8k():
    return load_benchmark("gsm8k").items


def run(stage_ctx, texts, urls=None):
    stage, ctx = stage_ctx
    res = stage.process_table(doc_table(texts, urls), ctx)
    check_accounting(res, len(texts))
    return res


def kept_row(res, doc_id):
    rows = [r for r in res.kept.to_pylist() if r["id"] == doc_id]
    return rows[0] if rows else None


def test_verbatim_recased_repunctuated_and_partial_items_are_found(bundled, english_pages, gsm8k):
    page = english_pages[0]
    q = gsm8k[10].texts[0]  # 51 words
    variants = {
        "verbatim": q,
        "case+punct+space": q.upper().replace(". ", "!\n   ").replace(",", ";").replace(" the ", "  THE\t"),
        "partial": " ".join(q.split()[:16]),  # the first 16 words: 4 of its 13-grams
    }
    docs, spans = [], []
    for v in variants.values():
        d, a, b = plant(page, v, len(page) // 2)
        docs.append(d)
        spans.append((a, b))
    short, *_ = plant(page, " ".join(q.split()[:12]), len(page) // 2)  # 12 words: no 13-gram left
    res = run(bundled, [*docs, short, page])
    for i, (doc, (a, b)) in enumerate(zip(docs, spans, strict=True)):
        row = kept_row(res, f"doc-{i}")
        assert row is not None and row[BENCH_COLUMN] == ["gsm8k"], list(variants)[i]
        assert row["text"] == expected_excision(doc, [(a, b)])
        assert b - a + 2 * W <= row[EXCISED_COLUMN] <= b - a + 2 * W + 4  # the cut (+ blank lines around it)
        assert row["lang"] == "en"  # metadata columns survive
    assert kept_row(res, "doc-3")[BENCH_COLUMN] == []
    assert kept_row(res, "doc-4")["text"] == page and kept_row(res, "doc-4")[EXCISED_COLUMN] == 0
    report = res.counters.extra["contamination"]["gsm8k"]
    assert report == {"documents_touched": 3, "items_found_ids": [10]}
    assert res.counters.extra["decontamination"]["excised_documents"] == 3


def test_code_and_completion_benchmarks_are_found(bundled, english_pages):
    he = load_benchmark("humaneval").items[2]  # truncate_number: prompt + canonical solution
    hs = load_benchmark("hellaswag").items[100]
    page = english_pages[1]
    d1, *_ = plant(page, he.texts[1], 3000)
    d2, *_ = plant(page, hs.texts[0], 3000)
    d3, *_ = plant(plant(page, he.texts[1], 1000)[0], hs.texts[0], 4000)
    res = run(bundled, [d1, d2, d3])
    got = {r["id"]: r[BENCH_COLUMN] for r in res.kept.to_pylist() + res.removed.to_pylist()}
    assert got == {"doc-0": ["humaneval"], "doc-1": ["hellaswag"], "doc-2": ["humaneval", "hellaswag"]}
    c = res.counters.extra["contamination"]
    assert c["humaneval"] == {"documents_touched": 2, "items_found_ids": [2]}
    assert c["hellaswag"] == {"documents_touched": 2, "items_found_ids": [100]}


def test_clean_real_pages_are_not_touched(bundled, pages):
    """False positives on 181 real article pages: none for any bundled benchmark (measured: 0 of 181)."""
    res = run(bundled, [p["text"] for p in pages], [p["url"] for p in pages])
    c = res.counters.extra["contamination"]
    assert c["gsm8k"]["documents_touched"] == 0
    assert c["humaneval"]["documents_touched"] == 0
    assert c["hellaswag"]["documents_touched"] == 0
    assert res.counters.documents_out == len(pages)
    assert [r["text"] for r in res.kept.to_pylist()] == [p["text"] for p in pages]


def test_overlapping_cuts_merge_into_one(bundled, english_pages, gsm8k):
    page = english_pages[2]
    d, a1, b1 = plant(page, gsm8k[20].texts[0], 2000)
    d, a2, b2 = plant(d, gsm8k[2].texts[0], b1 + 150)  # windows of the two matches overlap
    assert a2 - W < b1 + W
    res = run(bundled, [d])
    row = kept_row(res, "doc-0")
    assert row["text"] == expected_excision(d, [(a1, b1), (a2, b2)])
    assert row["text"].startswith(d[: a1 - W].strip()) and row["text"].endswith(d[b2 + W :].strip())
    assert b2 - a1 + 2 * W <= row[EXCISED_COLUMN] <= b2 - a1 + 2 * W + 4  # one cut spanning both
    assert res.counters.extra["contamination"]["gsm8k"]["items_found_ids"] == [2, 20]


def test_match_at_start_and_at_end(bundled, english_pages, gsm8k):
    page = english_pages[3]
    q = gsm8k[3].texts[0]
    at_start = f"{q}\n\n{page}"
    at_end = f"{page}\n\n{q}"
    res = run(bundled, [at_start, at_end])
    assert kept_row(res, "doc-0")["text"] == at_start[len(q) + W :].strip()
    assert kept_row(res, "doc-1")["text"] == at_end[: len(page) + 2 - W].strip()


def test_short_pieces_are_dropped_and_a_document_with_nothing_left_goes(bundled, english_pages, gsm8k):
    page = english_pages[4]
    q = gsm8k[1].texts[0]
    prefix = page[:350].rstrip()  # survives the cut as < 200 characters: dropped
    doc = f"{prefix}\n\n{q}\n\n{page[350:].lstrip()}"
    a = len(prefix) + 2
    tiny = f"Intro line.\n\n{q}\n\nA short closing remark."  # every piece under 200 characters
    res = run(bundled, [doc, tiny])
    row = kept_row(res, "doc-0")
    assert not row["text"].startswith(prefix[:100])
    assert row["text"] == doc[a + len(q) + W :].strip() == expected_excision(doc, [(a, a + len(q))])
    assert res.counters.removed == {dc.NOTHING_LEFT: 1}
    assert res.removed.column("reason").to_pylist() == [dc.NOTHING_LEFT]


def test_more_than_ten_pieces_drops_the_document(bundled, english_pages, gsm8k):
    page = english_pages[0]
    # 700-character real-text fillers (300 survive each cut); the "Part i." opening keeps a filler's first
    # word from continuing a question into its answer's first word (e.g. "... guess? The").
    fillers = [f"Part {i}. " + page[i * 700 : (i + 1) * 700] for i in range(12)]
    items = [gsm8k[i].texts[0] for i in range(30, 41)]
    assert all(len(words(q)) >= dc.NGRAM for q in items)

    def interleave(k):
        parts = [fillers[0]]
        for i in range(k):
            parts += [items[i], fillers[i + 1]]
        return "\n\n".join(parts)

    ten = interleave(9)  # 9 matches: 10 pieces, kept
    eleven = interleave(10)  # 10 matches: 11 pieces, dropped
    res = run(bundled, [ten, eleven])
    cuts = [(ten.index(q), ten.index(q) + len(q)) for q in items[:9]]
    assert kept_row(res, "doc-0")["text"] == expected_excision(ten, cuts)
    assert res.counters.removed == {dc.TOO_MANY_PIECES: 1}
    assert res.removed.column("id").to_pylist() == ["doc-1"]
    ex = dc.excise("x" * 5000, [(400 * i + 300, 400 * i + 301) for i in range(11)], window=10)
    assert ex.reason == dc.TOO_MANY_PIECES and ex.pieces == 12


def test_excise_pure_function_by_hand():
    text = "a" * 1000 + "MATCH" + "b" * 1000
    ex = dc.excise(text, [(1000, 1005)])
    assert ex.text == "a" * 800 + "\n\n" + "b" * 800 and ex.pieces == 2 and ex.removed_chars == 405
    ex = dc.excise(text, [(0, 5)])
    assert ex.text == text[205:] and ex.pieces == 1
    ex = dc.excise(text, [(1000, 1005), (1003, 1200)])  # overlapping matches: one cut
    assert ex.text == "a" * 800 + "\n\n" + "b" * 605  # cut [800, 1400) of 2005 characters
    assert dc.excise("z" * 300, [(0, 300)]).reason == dc.NOTHING_LEFT


def test_drop_action_removes_touched_documents(english_pages, gsm8k):
    stage = DecontaminateStage(benchmarks=["gsm8k"], action="drop")
    d, *_ = plant(english_pages[0], gsm8k[0].texts[0], 1000)
    res = stage.process_table(doc_table([d, english_pages[1]]))
    check_accounting(res, 2)
    assert res.counters.removed == {dc.CONTAMINATED: 1}
    assert res.removed.column(BENCH_COLUMN).to_pylist() == [["gsm8k"]]
    assert res.removed.column("reason").to_pylist() == [dc.CONTAMINATED]


def test_extra_benchmarks_by_path_are_matched(english_pages):
    tq_path = DATA / "benchmarks" / "truthfulqa_head.csv"
    ob_path = DATA / "benchmarks" / "openbookqa_head.jsonl"
    stage = DecontaminateStage(benchmarks=[f"truthfulqa={tq_path}", f"openbookqa={ob_path}"])
    tq = load_benchmark(f"truthfulqa={tq_path}").items[5].texts[1]
    ob = load_benchmark(f"openbookqa={ob_path}").items[0].texts[1]
    page = english_pages[2]
    res = stage.process_table(doc_table([plant(page, tq, 2500)[0], plant(page, ob, 2500)[0], page]))
    check_accounting(res, 3)
    assert res.kept.column(BENCH_COLUMN).to_pylist() == [["truthfulqa"], ["openbookqa"], []]


def test_ngrams_common_in_the_corpus_are_ignored(tmp_path, english_pages, gsm8k):
    """GPT-3 ignored n-grams found in more than 10 training documents; K is configurable."""
    q = gsm8k[7].texts[0]
    docs = [plant(english_pages[i], q, 1500)[0] for i in range(3)] + english_pages[3:6]
    parts = write_parts(tmp_path, docs, per_file=2)
    for k, found in ((2, False), (3, True)):
        stage = DecontaminateStage(benchmarks=["gsm8k"], max_ngram_docs=k)
        ctx = stage.prepare(stage.partitions(parts))
        touched = 0
        for p in stage.partitions(parts):
            res = stage.process(p, ctx)
            res.counters.check()
            touched += res.counters.extra["contamination"]["gsm8k"]["documents_touched"]
        assert touched == (3 if found else 0)
        ignored = ctx.index.stats["gsm8k"]["ngrams_ignored"]
        assert ignored == (0 if found else len(words(q)) - dc.NGRAM + 1)  # every 13-gram of the question


def test_empty_tables_and_missing_text_are_handled(bundled, english_pages, gsm8k):
    stage, ctx = bundled
    empty = stage.process_table(doc_table(["x"]).slice(0, 0), ctx)
    check_accounting(empty, 0)
    table = doc_table(["", "x", english_pages[0]])
    table = table.set_column(1, "text", pa.array([None, "x", english_pages[0]], type=pa.string()))
    res = stage.process_table(table, ctx)
    check_accounting(res, 3)
    assert res.kept.column(BENCH_COLUMN).to_pylist() == [[], [], []]


def test_items_shorter_than_n_words_match_as_a_whole(english_pages):
    """GPT-3's practice for short items: the whole text is the window (at least 8 words here)."""
    tq_path = DATA / "benchmarks" / "truthfulqa_head.csv"
    stage = DecontaminateStage(benchmarks=[f"truthfulqa={tq_path}"])
    items = load_benchmark(f"truthfulqa={tq_path}").items
    nine = items[0].texts[0]  # "What happens to you if you eat watermelon seeds?" (9 words)
    five = items[1].texts[0]  # "Where did fortune cookies originate?" (5 words: below the 8-word floor)
    assert (len(words(nine)), len(words(five))) == (9, 5)
    page = english_pages[1]
    docs = [plant(page, nine, 3000)[0], plant(page, five, 3000)[0],
            plant(page, " ".join(nine.split()[:8]), 3000)[0]]  # 8 of its 9 words: not the whole item
    res = stage.process_table(doc_table(docs))
    check_accounting(res, 3)
    assert res.kept.column(BENCH_COLUMN).to_pylist() == [["truthfulqa"], [], []]
    assert res.counters.extra["contamination"]["truthfulqa"]["items_found_ids"] == [0]
