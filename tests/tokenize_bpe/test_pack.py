"""``pack`` on a real LocalCluster: llm.c shards, .idx, manifest, weights, repetition, determinism, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from tokens_helpers import VOCAB, jsonl_texts

from corpus_forge.runner import run_stage
from tokenize_bpe.pack import PackStage
from tokenize_bpe.shards import HEADER_BYTES, MAGIC, file_sha256, open_tokens, read_idx
from tokenize_bpe.shards_cli import stats_rows, verify

EOT = VOCAB - 1


def _mix(text_dir: Path, web: Path, extra: Path) -> dict:
    return {
        "seed": 0,
        "shard_tokens": 40_000,
        "mixes": {
            # web (20 pages) is asked for 0.8 x 150k tokens, more than it has: repeated (at most 8 times)
            "curated": {"tokens": 150_000, "val_fraction": 0.1, "max_epochs": 8, "sources": [
                {"path": str(web), "name": "web", "weight": 0.8},
                {"path": str(text_dir / "wiki"), "weight": 0.2}]},
            # everything once: five books, the non-Latin pages, and a file with two empty documents
            "books": {"val_fraction": 0.0, "sources": [
                {"path": str(text_dir / "books")},
                {"path": [str(text_dir / "nonlatin.jsonl"), str(extra)], "name": "pages"}]},
            # 1M tokens at 50/50 with at most 2 epochs of web: the mix stops short
            "short": {"tokens": 1_000_000, "val_fraction": 0.0, "max_epochs": 2, "sources": [
                {"path": str(web), "name": "web", "weight": 0.5},
                {"path": str(text_dir / "wiki"), "weight": 0.5}]},
        },
    }


def _pack(tmp: Path, mix: dict, tokenizer_dir: Path, out: Path, client) -> dict:
    mix_file = tmp / f"mix-{out.name}.yaml"
    mix_file.write_text(yaml.safe_dump(mix))
    stage = PackStage.from_options({"tokenizer": str(tokenizer_dir), "mix": str(mix_file)})
    return run_stage(stage, [], str(out), client=client, progress=False)


@pytest.fixture(scope="module")
def packed(tmp_path_factory, text_dir, tokenizer_dir, stage_dir, dask_client):
    tmp = tmp_path_factory.mktemp("pack")
    extra = tmp / "with-empty.jsonl"
    extra.write_text(json.dumps({"text": ""}) + "\n" + json.dumps({"text": "   \n"}) + "\n"
                     + json.dumps({"id": "x1", "text": "One real sentence, after two empty documents."}) + "\n")
    mix = _mix(text_dir, stage_dir, extra)
    out = tmp / "out"
    stats = _pack(tmp, mix, tokenizer_dir, out, dask_client)
    return {"tmp": tmp, "mix": mix, "out": out, "stats": stats, "extra": extra}


def _manifest(out: Path, mix: str) -> dict:
    return json.loads((out / mix / "manifest.json").read_text())


def _shas(out: Path) -> dict[str, str]:
    return {f"{m}/{s['file']}": s["sha256"] for m in ("curated", "books", "short") for s in _manifest(out, m)["shards"]}


def test_accounting_counts_every_document_and_empty_ones_are_removed(packed):
    s = packed["stats"]
    assert (packed["out"] / "_SUCCESS").exists()
    # 20 web pages + 15 wiki pages + 5 books + 10 non-Latin pages + 3 lines of the extra file
    assert s["documents_in"] == 53
    assert s["removed"] == {"empty_text": 2}
    assert s["documents_in"] == s["documents_out"] + sum(s["removed"].values())
    assert s["encoder"] == "tiktoken"


def test_shards_read_as_plain_numpy_after_the_header_equal_the_reader(packed):
    out = packed["out"]
    m = _manifest(out, "curated")
    assert m["version"] == 1 and m["dtype"] == "uint16"  # 2048 ids fit in 16 bits
    for rec in m["shards"]:
        path = out / "curated" / rec["file"]
        header = np.fromfile(path, dtype="<i4", count=256)
        assert header[0] == MAGIC and header[1] == 1 and header[2] == rec["tokens"]
        plain = np.fromfile(path, dtype="<u2", offset=HEADER_BYTES)  # what llm.c / modded-nanogpt do
        assert np.array_equal(plain, open_tokens(path)) and plain.size == rec["tokens"]
        assert file_sha256(path) == rec["sha256"]
    assert sum(r["tokens"] for r in m["shards"] if r["split"] == "train") == m["train_tokens"]
    train = [r["tokens"] for r in m["shards"] if r["split"] == "train"]
    assert all(n == 40_000 for n in train[:-1]) and 0 < train[-1] <= 40_000


def test_idx_offsets_point_at_endoftext_and_every_document_starts_with_it(packed):
    out = packed["out"]
    for mix in ("curated", "books", "short"):
        m = _manifest(out, mix)
        n_docs = {"train": 0, "val": 0}
        for rec in m["shards"]:
            path = out / mix / rec["file"]
            toks, idx = open_tokens(path), read_idx(path)
            assert idx.size == rec["documents"]
            assert (toks[idx.astype(np.int64)] == EOT).all()
            assert int(np.count_nonzero(toks == EOT)) == idx.size  # no other <|endoftext|> in the stream
            n_docs[rec["split"]] += idx.size
        assert n_docs["train"] == sum(s["train_documents"] for s in m["sources"])
        assert n_docs["val"] == sum(s["val_documents"] for s in m["sources"])
    first = _manifest(out, "curated")["shards"][0]
    assert open_tokens(out / "curated" / first["file"])[0] == EOT


def test_weights_within_one_percent_and_the_small_source_is_repeated(packed):
    m = _manifest(packed["out"], "curated")
    web, wiki = m["sources"]
    assert abs(web["achieved_weight"] - 0.8) <= 0.008 and abs(wiki["achieved_weight"] - 0.2) <= 0.002
    assert abs(m["train_tokens"] - 150_000) <= 1500 and not m["stopped_short"]
    # web has fewer tokens than its 120k share: every train page at least once, some twice or more
    assert web["epochs"] > 1 and web["epochs"] == round(web["train_tokens"] / web["available_train_tokens"], 4)
    assert web["documents"] == 20 and web["distinct_train_documents"] == 20 - web["val_documents"]
    assert web["train_documents"] > 2 * web["distinct_train_documents"]
    assert wiki["epochs"] < 1
    per_source = {"web": 0, "wiki": 0}
    for rec in m["shards"]:
        if rec["split"] == "train":
            for k, v in rec["tokens_per_source"].items():
                per_source[k] += v
    assert per_source == {"web": web["train_tokens"], "wiki": wiki["train_tokens"]}
    assert m["val_tokens"] > 0 and m["tokenizer"]["eot_id"] == EOT and m["seed"] == 0


def test_a_mix_that_runs_out_stops_short_and_says_so(packed):
    m = _manifest(packed["out"], "short")
    web, wiki = m["sources"]
    assert m["stopped_short"] and m["limiting_source"] == "web" and "ran out after 2 epochs" in m["note"]
    assert web["epochs"] == 2.0 and m["train_tokens"] < 1_000_000
    # weights kept as far as whole documents allow (wiki: ~13 train pages of up to ~20k tokens each)
    assert abs(web["achieved_weight"] - 0.5) <= 0.02 and wiki["epochs"] < 1


def test_everything_once_without_weights(packed):
    m = _manifest(packed["out"], "books")
    books, pages = m["sources"]
    assert books["train_documents"] == 5 and pages["train_documents"] == 11 and books["epochs"] == 1.0


def test_packing_again_from_other_files_gives_the_same_sha256s(packed, text_dir, tokenizer_dir, stage_dir,
                                                                dask_client):
    # the same 20 web documents, reversed and cut into 4 Parquet files instead of 2: other partitions, same shards
    resplit = packed["tmp"] / "resplit"
    resplit.mkdir()
    tables = [pq.read_table(p) for p in sorted(stage_dir.glob("part-*.parquet"))]
    rows = [r for t in tables for r in t.to_pylist()][::-1]
    for i in range(4):
        pq.write_table(pa.Table.from_pylist(rows[i * 5:(i + 1) * 5], schema=tables[0].schema),
                       resplit / f"part-{i:05d}.parquet")
    again = packed["tmp"] / "again"
    _pack(packed["tmp"], _mix(text_dir, resplit, packed["extra"]), tokenizer_dir, again, dask_client)
    assert _shas(again) == _shas(packed["out"])
    assert verify(again) == []


def test_a_killed_pack_resumes_to_the_same_sha256s(packed, tokenizer_dir, dask_client):
    out = packed["tmp"] / "killed"
    shutil.copytree(packed["out"], out)
    # what a kill leaves: no manifest, no stats, two partitions unfinished, shards after the first missing
    for name in ("_SUCCESS", "stats.json", "curated/manifest.json", "books/manifest.json", "short/manifest.json"):
        (out / name).unlink()
    for marker in sorted((out / "_parts").glob("*.json"))[:2]:
        marker.unlink()
    for shard in sorted((out / "curated").glob("train-*.bin"))[1:]:
        shard.unlink()
        shard.with_suffix(".idx").unlink()
    kept = out / "curated" / "train-00000.bin"
    before = kept.stat().st_mtime_ns
    mix_file = packed["tmp"] / "mix-out.yaml"
    stats = run_stage(PackStage.from_options({"tokenizer": str(tokenizer_dir), "mix": str(mix_file)}), [],
                      str(out), client=dask_client, progress=False)
    assert stats["partitions_done"] == stats["partitions"] and (out / "_SUCCESS").exists()
    assert _shas(out) == _shas(packed["out"])
    assert kept.stat().st_mtime_ns == before  # the finished shard was not rewritten


def test_verify_passes_then_names_a_flipped_byte(packed, tmp_path):
    assert verify(packed["out"]) == []
    out = tmp_path / "copy"
    shutil.copytree(packed["out"] / "curated", out / "curated")
    shard = out / "curated" / "train-00001.bin"
    data = bytearray(shard.read_bytes())
    data[HEADER_BYTES + 1001] ^= 0x01
    shard.write_bytes(bytes(data))
    problems = verify(out)
    assert len(problems) == 1 and "train-00001.bin" in problems[0] and "sha256" in problems[0]


def test_stats_table_rows_match_the_manifest(packed):
    rows = stats_rows(packed["out"])
    m = _manifest(packed["out"], "curated")
    got = {(r["source"], r["split"]): r["tokens"] for r in rows if r["mix"] == "curated"}
    assert got == {(s["name"], sp): s[f"{sp}_tokens"] for s in m["sources"] for sp in ("train", "val")}


def test_a_pack_process_killed_while_writing_shards_resumes_to_the_same_sha256s(packed, tokenizer_dir, dask_client):
    import os
    import signal
    import subprocess
    import sys
    import time

    mix = packed["tmp"] / "mix-out.yaml"
    out = packed["tmp"] / "sigkill"
    # 2,000-token shards (326 of them): the kill lands while shards are being written (seen: after 16-23)
    small = yaml.safe_load(mix.read_text())
    small["shard_tokens"] = 2000
    mix_small = packed["tmp"] / "mix-small.yaml"
    mix_small.write_text(yaml.safe_dump(small))
    cmd = [sys.executable, "-m", "corpus_forge.cli", "pack", "--tokenizer", str(tokenizer_dir), "--mix",
           str(mix_small), "--out", str(out), "--scheduler", dask_client.scheduler.address, "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list(out.glob("*/train-*.bin")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "_SUCCESS").exists() and not (out / "short" / "manifest.json").exists()
    written = sorted(out.glob("*/*.bin"))
    fresh = packed["tmp"] / "sigkill-fresh"
    run_stage(PackStage.from_options({"tokenizer": str(tokenizer_dir), "mix": str(mix_small)}), [], str(fresh),
              client=dask_client, progress=False)
    run_stage(PackStage.from_options({"tokenizer": str(tokenizer_dir), "mix": str(mix_small)}), [], str(out),
              client=dask_client, progress=False)
    assert written and (out / "_SUCCESS").exists()
    assert _shas(out) == _shas(fresh)
    assert verify(out) == []


def test_a_vocabulary_past_65536_ids_gets_llamas_header(tmp_path, text_dir, wide_tokenizer_dir, dask_client):
    from tokenize_bpe.shards import LLAMA3_MAGIC

    mix = {"seed": 0, "shard_tokens": 50_000, "mixes": {"pages": {"val_fraction": 0.0, "sources": [
        {"path": str(text_dir / "nonlatin.jsonl")}]}}}
    out = tmp_path / "out"
    _pack(tmp_path, mix, wide_tokenizer_dir, out, dask_client)
    m = _manifest(out, "pages")
    assert m["version"] == 7 and m["magic"] == LLAMA3_MAGIC and m["header"] == "llama-3"
    assert m["dtype"] == "uint32" and m["tokenizer"]["eot_id"] == 65_792
    for rec in m["shards"]:
        path = out / "pages" / rec["file"]
        header = np.fromfile(path, dtype="<i4", count=256)
        assert header[0] == 20240801 and header[1] == 7 and header[2] == rec["tokens"]  # data_common.py llama-3
        plain = np.fromfile(path, dtype="<u4", offset=HEADER_BYTES)
        assert np.array_equal(plain, open_tokens(path))
        assert (plain[read_idx(path).astype(np.int64)] == 65_792).all() and plain.max() == 65_792
        # ids that need the uint32 header besides <|endoftext|>: pairs of common letters, many per document
        assert np.count_nonzero((plain > 65_535) & (plain != 65_792)) > 10 * read_idx(path).size
    assert verify(out) == []


@pytest.mark.parametrize("finished", [True, False])
def test_a_tokenizer_retrained_in_place_redoes_the_pack(tmp_path, tokenizer_dir, text_dir, dask_client, finished):
    """The tokenizer's sha256 is part of what pack reads: a finished (or interrupted) pack into the same folder
    with a tokenizer retrained in place is redone with the new one, never reused."""
    from tokenize_bpe.export import export
    from tokenize_bpe.train_merges import GPT2_PATTERN, train_ranks

    tok = tmp_path / "tok"
    shutil.copytree(tokenizer_dir, tok)
    mix = {"mixes": {"pages": {"val_fraction": 0.0, "sources": [{"path": str(text_dir / "nonlatin.jsonl")}]}}}
    out = tmp_path / "out"
    first = _pack(tmp_path, mix, tok, out, dask_client)
    assert first["partitions_done"] == 1
    if not finished:
        (out / "_SUCCESS").unlink()  # as if the pack had been interrupted after tokenizing
    export(train_ranks(jsonl_texts("nonlatin.jsonl"), 400, "gpt2"), GPT2_PATTERN, tok)  # another tokenizer, same dir
    stats = _pack(tmp_path, mix, tok, out, dask_client)
    assert stats["partitions_reset"] == 1 and (out / "_SUCCESS").exists()
    manifest = json.loads((out / "pages" / "manifest.json").read_text())
    assert manifest["tokenizer"]["tokenizer_json_sha256"] == file_sha256(tok / "tokenizer.json")
    fresh = _pack(tmp_path, mix, tok, tmp_path / "fresh", dask_client)
    assert fresh["documents_out"] == stats["documents_out"]
    assert json.loads((tmp_path / "fresh" / "pages" / "manifest.json").read_text())["shards"] == manifest["shards"]


def _source_encodings(m: dict, tokenizer_dir: Path) -> list[set[tuple[int, ...]]]:
    """Per manifest source, the token sequences (``<|endoftext|>`` + text) of its documents, encoded afresh."""
    from corpus_forge.text_sources import iter_documents, text_files
    from tokenize_bpe.encode import load_encoder

    enc = load_encoder(str(tokenizer_dir))
    out = []
    for s in m["sources"]:
        texts = [t for b in iter_documents(text_files(s["paths"])) for t in b.texts if t.strip()]
        out.append({(EOT, *ids) for ids in enc.encode_batch(texts)})
    return out


@pytest.mark.parametrize("mix", ["curated", "books"])
def test_src_names_the_source_of_every_document_and_head_source_of_split_ones(packed, tokenizer_dir, mix):
    from tokenize_bpe.shards import read_src

    out = packed["out"]
    m = _manifest(out, mix)
    encodings = _source_encodings(m, tokenizer_dir)
    for split in ("train", "val"):
        recs = [r for r in m["shards"] if r["split"] == split]
        stream, starts, sources, prev_last = [], [], [], None
        for r in recs:
            path = out / mix / r["file"]
            toks, idx, src = np.asarray(open_tokens(path)), read_idx(path).astype(np.int64), read_src(path)
            assert src is not None and src.dtype == np.uint16 and src.size == idx.size
            # the shard's head (before its first start; all of it in a shard inside one long book) is the tail
            # of the previous shard's last document
            assert r["head_source"] == (None if idx.size and idx[0] == 0 else prev_last)
            offset = sum(len(x) for x in stream)
            stream.append(toks)
            starts += (idx + offset).tolist()
            sources += src.tolist()
            prev_last = int(src[-1]) if src.size else prev_last
        if not recs:
            continue
        tokens = np.concatenate(stream)
        bounds = [*starts, tokens.size]
        for i, s in enumerate(sources):  # every document, shards joined, is a document of the source it names
            assert tuple(tokens[bounds[i]:bounds[i + 1]].tolist()) in encodings[s]
        assert recs[0]["head_source"] is None
    assert mix != "curated" or any(r["head_source"] is not None for r in m["shards"])  # 40k-token shards split docs


def test_verify_names_a_src_that_disagrees_with_the_manifest(packed, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(packed["out"] / "curated", out / "curated")
    m = _manifest(out, "curated")
    rec = next(r for r in m["shards"] if len(r["tokens_per_source"]) == 2)
    src = out / "curated" / rec["file"].replace(".bin", ".src")
    values = np.fromfile(src, dtype="<u2")
    values[values == 0] = 1  # every web document now says wiki
    values.tofile(src)
    problems = verify(out)
    assert len(problems) == 1 and rec["file"].replace(".bin", ".src") in problems[0]
    assert "tokens per source" in problems[0]
    values[:-1].tofile(src)  # one entry short of the .idx
    problems = verify(out)
    assert len(problems) == 1 and "source indices for" in problems[0]
