"""The evaluation texts are decontamination benchmarks: a curated mix packed after ``decontaminate``
holds none of their paragraphs, while the same documents packed raw do."""

from __future__ import annotations

import pyarrow as pa
from tokenizers import Tokenizer
from train_smoke_helpers import book_docs, pack

from filters.support.benchmarks import DEFAULT_BENCHMARKS, load_benchmark
from pipelines.decontaminate import DecontaminateConfig, DecontaminateStage
from tokenize_bpe.shards import open_tokens
from train_smoke.evaluate import eval_texts

EVAL_BENCHMARKS = {"wikitext2_test": "eval-wikitext2", "pride_and_prejudice": "eval-pride-and-prejudice"}


def test_every_shipped_evaluation_text_is_a_default_benchmark():
    assert set(EVAL_BENCHMARKS) == set(eval_texts())
    assert set(EVAL_BENCHMARKS.values()) <= set(DEFAULT_BENCHMARKS)
    book = load_benchmark("eval-pride-and-prejudice")
    assert book.items[0].texts[0].startswith("It is a truth universally acknowledged")


def mix_text(mix, tokenizer_dir) -> str:
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    return "".join(tok.decode(open_tokens(p).tolist(), skip_special_tokens=True) for p in
                   sorted(mix.glob("*.bin")))


def test_a_curated_mix_holds_no_evaluation_paragraph(tokenizer_dir, tmp_path):
    texts = eval_texts()
    book = [p for p in texts["pride_and_prejudice"].split("\n\n") if len(p.split()) > 40][:3]
    wiki = [p.strip() for p in texts["wikitext2_test"].split("\n") if len(p.split()) > 60][:2]
    stories = book_docs("chesterton-brown", max_docs=30)
    # web pages quoting the evaluation texts in the middle of other text, and one page that is a copy
    docs = [*stories[:26], stories[26] + "\n\n" + book[0] + "\n\n" + stories[27],
            stories[28] + "\n\n" + wiki[0] + "\n\n" + book[1], "\n\n".join([wiki[1], book[2]])]
    table = pa.table({"id": [f"doc-{i}" for i in range(len(docs))], "text": docs,
                      "url": [f"https://example.org/{i}" for i in range(len(docs))], "source": ["test"] * len(docs)})
    cfg = DecontaminateConfig(benchmarks=[{"name": n} for n in EVAL_BENCHMARKS.values()])
    res = DecontaminateStage(cfg).process_table(table)
    kept = res.kept.column("text").to_pylist()
    assert res.kept.num_rows + sum(res.counters.removed.values()) == len(docs)

    raw = mix_text(pack(tmp_path / "raw", docs, tokenizer_dir), tokenizer_dir)
    curated = mix_text(pack(tmp_path / "curated", kept, tokenizer_dir), tokenizer_dir)
    for para in book + wiki:
        assert para in raw  # packing alone keeps them (so the check below can fail)
        assert para not in curated
        assert " ".join(para.split()[10:23]) not in curated  # nor any 13 words of them here
    assert stories[27][-300:] in curated  # the rest of a quoting page survives (GPT-3 excision)
