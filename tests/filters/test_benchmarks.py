"""The benchmark registry: bundled sets, the per-benchmark loaders and the generic field-mapping loader."""

from __future__ import annotations

import csv
import json
from importlib import resources

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from decontam_helpers import DATA

from corpus_forge.config import ConfigError
from filters.support.benchmarks import DEFAULT_BENCHMARKS, BenchmarkSpec, load_benchmark, parse_spec

BENCH = DATA / "benchmarks"


def test_bundled_sets_have_the_published_sizes():
    # Sizes from the upstream releases: GSM8K test 1,319; HumanEval 164; HellaSwag validation 10,042.
    sizes = {name: len(load_benchmark(name).items) for name in DEFAULT_BENCHMARKS}
    assert sizes == {"gsm8k": 1319, "humaneval": 164, "hellaswag": 10042,
                     "eval-wikitext2": 489, "eval-pride-and-prejudice": 844}  # the shipped evaluation texts
    gsm = load_benchmark("gsm8k").items[0]
    assert gsm.texts[0].startswith("Janet’s ducks lay 16 eggs per day.")
    assert "<<16-3-4=9>>" in gsm.texts[1] and "<<" not in gsm.texts[2]  # released and readable answers
    he = load_benchmark("humaneval").items[0]
    assert he.id == "HumanEval/0" and "def has_close_elements" in he.texts[0]
    assert "for idx, elem in enumerate(numbers)" in he.texts[1]


def test_bundled_data_is_small_and_licensed():
    root = resources.files("filters").joinpath("data", "benchmarks")
    files = {p.name: p for p in root.iterdir()}
    assert sum(len(p.read_bytes()) for p in files.values()) < 2_000_000
    for lic in ("LICENSE.gsm8k", "LICENSE.humaneval", "LICENSE.hellaswag", "SOURCES.md"):
        assert lic in files


def test_bundled_hellaswag_matches_the_upstream_text_file():
    # The fixture is the first 30 items of klosax's file as released: context line, gold index, 4 endings.
    upstream = load_benchmark(BenchmarkSpec(name="hellaswag", path=str(BENCH / "hellaswag_val_head.txt")))
    bundled = load_benchmark("hellaswag").items[:30]
    assert [i.texts for i in upstream.items] == [i.texts for i in bundled]
    lines = (BENCH / "hellaswag_val_head.txt").read_text().split("\n")
    assert upstream.items[0].texts[0] == f"{lines[0]} {lines[2 + int(lines[1])]}"


def test_truthfulqa_and_openbookqa_load_by_path():
    tq = load_benchmark(parse_spec(f"truthfulqa={BENCH / 'truthfulqa_head.csv'}"))
    assert len(tq.items) == 40
    assert tq.items[0].texts == ("What happens to you if you eat watermelon seeds?",
                                 "What happens to you if you eat watermelon seeds? "
                                 "The watermelon seeds pass through your digestive system")
    ob = load_benchmark(parse_spec(f"openbookqa={BENCH / 'openbookqa_head.jsonl'}"))
    assert len(ob.items) == 40
    first = json.loads((BENCH / "openbookqa_head.jsonl").read_text().splitlines()[0])
    assert first["answerKey"] == "B"  # choice B is "quit eating lunch out"
    assert ob.items[0].texts[1].endswith("the best way to save money is to quit eating lunch out")


def test_generic_loader_reads_jsonl_csv_and_parquet_with_a_field_mapping(tmp_path):
    rows = list(csv.DictReader(open(BENCH / "truthfulqa_head.csv", encoding="utf-8")))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "tq.parquet")
    with open(tmp_path / "tq.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"q": {"text": r["Question"]}, "a": r["Best Answer"]}) + "\n")
    from_csv = load_benchmark(f"mine={BENCH / 'truthfulqa_head.csv'}#Question,Best Answer")
    from_parquet = load_benchmark(f"mine={tmp_path / 'tq.parquet'}#Question,Best Answer")
    from_jsonl = load_benchmark(f"mine={tmp_path / 'tq.jsonl'}#q.text,a")
    want = [(f"{r['Question']} {r['Best Answer']}",) for r in rows]
    for b in (from_csv, from_parquet, from_jsonl):
        assert [i.texts for i in b.items] == want
    with pytest.raises(ValueError, match=r"no items.*40 rows lack"):
        load_benchmark(f"mine={tmp_path / 'tq.jsonl'}#q.text,nope")


def test_spec_errors_are_config_errors(tmp_path):
    assert parse_spec("gsm8k") == BenchmarkSpec(name="gsm8k")
    assert parse_spec("x=a/b.jsonl#q, a") == BenchmarkSpec(name="x", path="a/b.jsonl", fields=["q", "a"])
    with pytest.raises(ConfigError, match="not a registered benchmark"):
        load_benchmark("mmlu")
    with pytest.raises(ConfigError, match="not bundled"):
        load_benchmark("truthfulqa")
    with pytest.raises(ConfigError, match="file not found"):
        load_benchmark(f"gsm8k={tmp_path / 'nope.jsonl'}")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no items"):
        load_benchmark(f"gsm8k={tmp_path / 'empty.jsonl'}")
