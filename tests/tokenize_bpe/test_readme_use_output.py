"""Every example of the README's "Use the output with…" section runs on real outputs and reads what we wrote."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from corpus_forge.runner import run_stage
from pipelines.filter import FilterStage
from tokenize_bpe.bpe import BpeStage
from tokenize_bpe.encode import load_encoder
from tokenize_bpe.pack import PackStage
from tokenize_bpe.shards import open_tokens, read_idx

README = Path(__file__).parents[2] / "README.md"


def readme_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use the output with…", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, text_dir, stage_dir, dask_client):
    """``out/filter`` (langid over the CCNet documents), ``tok/`` (corpus-forge bpe), a mix packed three ways."""
    d = tmp_path_factory.mktemp("use-output")
    run_stage(FilterStage.from_options({"filters": [{"type": "langid", "languages": ["en"], "threshold": 0.5}]}),
              [str(stage_dir)], str(d / "out" / "filter"), client=dask_client, progress=False)
    run_stage(BpeStage.from_options({"vocab_size": 700, "sample_bytes": 400_000, "heldout_bytes": 50_000}),
              [str(text_dir / "books"), str(text_dir / "wiki")], str(d / "tok"), client=dask_client, progress=False)
    mix = d / "mix.yaml"
    mix.write_text(yaml.safe_dump({"shard_tokens": 50_000, "mixes": {"curated": {"val_fraction": 0.1, "sources": [
        {"path": str(d / "out" / "filter"), "name": "web"}, {"path": str(text_dir / "wiki")}]}}}))
    for folder, fmt in (("shards", "llmc"), ("shards-megatron", "megatron"), ("shards-nanogpt", "nanogpt")):
        stage = PackStage.from_options({"tokenizer": str(d / "tok"), "mix": str(mix), "format": fmt})
        run_stage(stage, [], str(d / folder), client=dask_client, progress=False)
    return d


def _run(code: str, where: Path, monkeypatch) -> dict:
    monkeypatch.chdir(where)
    assert len(code.strip().splitlines()) == 3  # three lines each
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    return ns


def test_the_section_has_the_six_tools():
    imports = [code.splitlines()[0] for code in readme_examples()]
    assert [next(w for w in ("megatron", "datasets", "duckdb", "numpy", "tiktoken") if w in line)
            for line in imports] == ["datasets", "duckdb", "numpy", "megatron", "numpy", "tiktoken"]


def test_each_example_reads_what_we_wrote(run_dir, monkeypatch):
    hf_ds, duck, llmc, megatron, nanogpt, tokenizers = readme_examples()
    docs = pa.concat_tables([pq.read_table(p) for p in sorted((run_dir / "out" / "filter").glob("part-*.parquet"))])
    texts = docs["text"].to_pylist()

    ns = _run(hf_ds, run_dir, monkeypatch)
    assert ns["ds"].num_rows == docs.num_rows > 0 and ns["first"] in texts

    ns = _run(duck, run_dir, monkeypatch)
    assert sum(n for _, n in ns["rows"]) == docs.num_rows
    assert [c for _, c in ns["longest"]] == sorted(map(len, texts), reverse=True)[:3]

    shard = run_dir / "shards" / "curated" / "train-00000.bin"
    ns = _run(llmc, run_dir, monkeypatch)
    assert list(ns["header"][:2]) == [20240520, 1] and np.array_equal(ns["tokens"], open_tokens(shard))

    stream = np.asarray(open_tokens(shard))
    first_doc = stream[: int(read_idx(shard)[1])]  # <|endoftext|> + the first document's text
    ns = _run(megatron, run_dir, monkeypatch)
    assert np.array_equal(ns["doc"], np.roll(first_doc, -1))  # Megatron's: the text, then <|endoftext|>

    ns = _run(nanogpt, run_dir, monkeypatch)
    assert np.array_equal(ns["x"], stream[1:257]) and np.array_equal(ns["y"], stream[2:258])

    ns = _run(tokenizers, run_dir, monkeypatch)
    enc = load_encoder(str(run_dir / "tok"))
    for text in texts[:5]:
        ours = enc.encode_batch([text])[0]
        assert ns["hf"].encode(text, add_special_tokens=False) == ours == ns["tt"].encode_ordinary(text)
    assert ns["tt"].eot_token == enc.eot == ns["hf"].convert_tokens_to_ids("<|endoftext|>") == 699
