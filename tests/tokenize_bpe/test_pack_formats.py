"""``pack --format megatron`` and ``--format nanogpt``, read back by megatron-core's own ``IndexedDataset`` and by
nanoGPT's loading code, against the llm.c shards of the same mix (same documents, same order)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from corpus_forge.cli import main
from corpus_forge.runner import run_stage
from tokenize_bpe.pack import PackStage
from tokenize_bpe.shards import open_tokens, read_idx
from tokenize_bpe.shards_cli import stats_rows, verify

# two sources, a val split, and 20k-token pieces: each split's file is joined from several workers' pieces
MIX = {"seed": 3, "shard_tokens": 20_000, "mixes": {"m": {"val_fraction": 0.2, "sources": [
    {"path": "wiki"}, {"path": "nonlatin.jsonl", "name": "pages"}]}}}


def _pack(tmp: Path, text_dir: Path, tokenizer: Path, out: Path, client, fmt: str | None, in_mix: bool = False):
    mix = json.loads(json.dumps(MIX))
    for src in mix["mixes"]["m"]["sources"]:
        src["path"] = str(text_dir / src["path"])
    if in_mix:
        mix["format"] = fmt  # the mix file's format: key
    mix_file = tmp / f"mix-{out.name}.yaml"
    mix_file.write_text(yaml.safe_dump(mix))
    opts = {"tokenizer": str(tokenizer), "mix": str(mix_file), **({"format": fmt} if fmt and not in_mix else {})}
    return run_stage(PackStage.from_options(opts), [], str(out), client=client, progress=False)


def _llmc_docs(mix_dir: Path, split: str) -> list[np.ndarray]:
    """The documents of an llm.c split, shards joined, each ``<|endoftext|>`` + text."""
    stream, starts = [], []
    for path in sorted(mix_dir.glob(f"{split}-*.bin")):
        starts += (read_idx(path).astype(np.int64) + sum(len(s) for s in stream)).tolist()
        stream.append(np.asarray(open_tokens(path)))
    tokens = np.concatenate(stream)
    return [tokens[a:b] for a, b in zip(starts, [*starts[1:], tokens.size], strict=True)]


@pytest.fixture(scope="module")
def packs(tmp_path_factory, text_dir, tokenizer_dir, wide_tokenizer_dir, dask_client):
    tmp = tmp_path_factory.mktemp("formats")
    out = {}
    for name, tok, fmt, in_mix in [("llmc", tokenizer_dir, None, False), ("megatron", tokenizer_dir, "megatron", True),
                                   ("nanogpt", tokenizer_dir, "nanogpt", False),
                                   ("wide-llmc", wide_tokenizer_dir, None, False),
                                   ("wide-megatron", wide_tokenizer_dir, "megatron", False)]:
        out[name] = tmp / name
        _pack(tmp, text_dir, tok, out[name], dask_client, fmt, in_mix)
    out["tmp"] = tmp
    return out


def _megatron_dataset(prefix: Path):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    return IndexedDataset(str(prefix), multimodal=False, mmap=True)


@pytest.mark.parametrize(("llmc", "megatron", "dtype"), [("llmc", "megatron", np.uint16),
                                                         ("wide-llmc", "wide-megatron", np.int32)])
def test_megatron_cores_reader_gets_our_documents_with_the_separator_after_each(packs, llmc, megatron, dtype):
    m = json.loads((packs[megatron] / "m" / "manifest.json").read_text())
    assert m["format"] == "megatron" and m["dtype_code"] == (8 if dtype == np.uint16 else 4)
    eot = m["tokenizer"]["eot_id"]
    for split in ("train", "val"):
        docs = _llmc_docs(packs[llmc] / "m", split)
        ds = _megatron_dataset(packs[megatron] / "m" / split)
        assert ds.index.dtype == dtype and len(ds) == len(docs) > 3
        assert np.array_equal(ds.document_indices, np.arange(len(docs) + 1))  # one document per sequence
        for i, doc in enumerate(docs):  # llm.c: <|endoftext|> + text; Megatron: text + <|endoftext|>
            got = ds[i]
            assert got.dtype == dtype and np.array_equal(got, np.roll(doc, -1)) and got[-1] == eot
        assert ds.sequence_lengths.sum() == sum(r["tokens"] for r in m["shards"] if r["split"] == split)
    train = _megatron_dataset(packs[megatron] / "m" / "train")  # its items are views of its map: keep it alive
    wide = np.concatenate([np.array(train[i]) for i in range(5)])
    assert dtype == np.uint16 or wide.max() > 65_535  # ids past uint16 survive the round trip


def test_the_split_file_is_joined_from_several_pieces_and_verify_and_stats_read_it(packs):
    pieces = sorted((packs["megatron"] / "_work" / "pack_flat" / "m" / "train").glob("piece-*.bin"))
    assert len(pieces) > 2
    joined = b"".join(p.read_bytes() for p in pieces)
    assert joined == (packs["megatron"] / "m" / "train.bin").read_bytes()
    for name in ("megatron", "nanogpt", "wide-megatron"):
        assert verify(packs[name]) == []
        rows = {(r["source"], r["split"]): r["tokens"] for r in stats_rows(packs[name])}
        llmc = {(r["source"], r["split"]): r["tokens"] for r in stats_rows(packs["llmc" if "wide" not in name
                                                                                 else "wide-llmc"])}
        assert rows == llmc  # the same tokens per source and split as the llm.c shards of the same mix


def test_nanogpts_get_batch_window_reads_our_train_bin(packs):
    m = json.loads((packs["nanogpt"] / "m" / "manifest.json").read_text())
    assert m["format"] == "nanogpt" and m["dtype"] == "uint16"
    eot = m["tokenizer"]["eot_id"]
    llmc = np.concatenate(_llmc_docs(packs["llmc"] / "m", "train"))
    # nanoGPT train.py get_batch: a fresh memmap, random offsets, x = data[i:i+block], y = data[i+1:i+1+block]
    data = np.memmap(packs["nanogpt"] / "m" / "train.bin", dtype=np.uint16, mode="r")
    block = 64
    ix = np.random.default_rng(0).integers(len(data) - block, size=8)
    x = np.stack([data[i : i + block].astype(np.int64) for i in ix])
    y = np.stack([data[i + 1 : i + 1 + block].astype(np.int64) for i in ix])
    # the llm.c stream is <|endoftext|> d1 <|endoftext|> d2 ...; nanoGPT's is d1 <|endoftext|> d2 <|endoftext|> ...
    for row_x, row_y, i in zip(x, y, ix, strict=True):
        assert np.array_equal(row_x, llmc[i + 1 : i + 1 + block]) and np.array_equal(row_y[:-1], row_x[1:])
    assert len(data) == llmc.size and data[-1] == eot
    assert np.count_nonzero(data == eot) == sum(s["train_documents"] for s in m["sources"])


def test_nanogpt_refuses_a_vocabulary_past_65536_with_one_line(tmp_path, text_dir, wide_tokenizer_dir, capsys):
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"mixes": {"m": {"sources": [{"path": str(text_dir / "wiki")}]}}}))
    rc = main(["pack", "--tokenizer", str(wide_tokenizer_dir), "--mix", str(mix), "--format", "nanogpt",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "65,793 ids" in err and "nanogpt" in err
    assert not (tmp_path / "out").exists()


def test_a_megatron_pack_rerun_keeps_its_files_and_verify_names_a_changed_one(packs, text_dir, tokenizer_dir,
                                                                              dask_client, tmp_path):
    import shutil

    out = packs["megatron"]
    before = {p.name: p.stat().st_mtime_ns for p in (out / "m").iterdir()}
    _pack(packs["tmp"], text_dir, tokenizer_dir, out, dask_client, "megatron", in_mix=True)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "m").iterdir() if p.name != "manifest.json"} == \
        {k: v for k, v in before.items() if k != "manifest.json"}
    copy = tmp_path / "copy"
    shutil.copytree(out / "m", copy / "m")
    data = bytearray((copy / "m" / "val.bin").read_bytes())
    data[101] ^= 0x01
    (copy / "m" / "val.bin").write_bytes(bytes(data))
    idx = copy / "m" / "train.idx"
    idx.write_bytes(idx.read_bytes()[:-8])
    problems = verify(copy)
    assert len(problems) == 2
    assert any("val.bin" in p and "sha256" in p for p in problems) and any("train.idx" in p for p in problems)
