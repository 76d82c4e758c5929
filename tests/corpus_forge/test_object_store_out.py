"""Every step takes ``--out s3://…``: the whole demo recipe, run into a bucket on a real S3 server on
127.0.0.1 (moto), gives the local run's outputs: the same documents, tokenizer, shards and ablation figures."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import fsspec
import pyarrow.parquet as pq
import pytest
from demo_run import RECIPE, run_demo

from corpus_forge.recipe import build_steps, load_recipe
from corpus_forge.registry import step_class


def _documents(fs, folder: str) -> dict[str, str]:
    """{id: sha1 of text} of a step's ``part-*.parquet`` files."""
    out: dict[str, str] = {}
    for path in fs.glob(folder.rstrip("/") + "/part-*.parquet"):
        with fs.open(path, "rb") as f:
            t = pq.read_table(f, columns=["id", "text"])
        for i, text in zip(t["id"].to_pylist(), t["text"].to_pylist(), strict=True):
            out[i] = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    return out


def _read(fs, path: str) -> bytes:
    with fs.open(path, "rb") as f:
        return f.read()


def _results(fs, folder: str) -> dict[tuple[str, str], dict[str, str]]:
    rows = csv.DictReader(io.StringIO(_read(fs, f"{folder}/results.csv").decode()))
    return {(r["mix"], r["seed"]): r for r in rows}


@pytest.fixture(scope="module")
def s3_run(demo_run, s3_endpoint, dask_client):
    import uuid

    s3 = fsspec.filesystem("s3")
    bucket = f"demo-{uuid.uuid4().hex[:8]}"
    s3.mkdir(bucket)
    url = f"s3://{bucket}/run"
    return url, run_demo(url, dask_client)


def test_the_demo_recipe_into_a_bucket_gives_the_local_run_s_outputs(demo_run, s3_run):
    out, local_stats = demo_run
    url, s3_stats = s3_run
    local, s3 = fsspec.filesystem("file"), fsspec.filesystem("s3")
    recipe = load_recipe(str(RECIPE))
    steps = list(zip(build_steps(recipe, str(out), "webtext.yaml"), build_steps(recipe, url, "webtext.yaml"),
                     strict=True))
    assert [s["stage"] for s in s3_stats] == [s["stage"] for s in local_stats]
    assert [s["documents_out"] for s in s3_stats] == [s["documents_out"] for s in local_stats]
    for (lstep, sstep), ls, ss in zip(steps, local_stats, s3_stats, strict=True):
        assert s3.exists(f"{sstep.out}/_SUCCESS"), sstep.id
        assert ss["removed"] == ls["removed"], sstep.id
        if step_class(lstep.stage.name).writes_documents:
            docs = _documents(s3, sstep.out)
            assert docs and docs == _documents(local, lstep.out), sstep.id
        assert not [p for p in s3.find(sstep.out) if p.rsplit("/", 1)[-1].startswith(".tmp-")], sstep.id
    by_id = {lstep.stage.name: (lstep.out, sstep.out) for lstep, sstep in steps}
    lbpe, sbpe = by_id["bpe"]
    for name in ("tokenizer.json", "tokenizer.tiktoken"):
        assert _read(s3, f"{sbpe}/{name}") == _read(local, f"{lbpe}/{name}")
    lpack, spack = by_id["pack"]
    for mix in ("raw", "curated"):
        lm = json.loads(_read(local, f"{lpack}/{mix}/manifest.json"))
        sm = json.loads(_read(s3, f"{spack}/{mix}/manifest.json"))
        assert [(s["file"], s["sha256"]) for s in sm["shards"]] == [(s["file"], s["sha256"]) for s in lm["shards"]]
        for shard in sm["shards"]:
            assert hashlib.sha256(_read(s3, f"{spack}/{mix}/{shard['file']}")).hexdigest() == shard["sha256"]
    labl, sabl = by_id["ablate"]
    lrows, srows = (_results(fs, d) for fs, d in ((local, labl), (s3, sabl)))
    assert sorted(srows) == sorted(lrows) and len(srows) == 4
    for key, row in srows.items():  # CPU training is deterministic for a seed: the same figures
        assert float(row["val_bpb"]) == pytest.approx(float(lrows[key]["val_bpb"]), abs=1e-6), key
    for name in ("loss.png", "bpb.png", "results.md"):
        assert s3.size(f"{sabl}/{name}") > 0
    assert len(s3.glob(f"{sabl}/runs/*/summary.json")) == 4
    report = _read(s3, f"{url}/report.html").decode()
    assert "Tokens per source per mix" in report and "Ablation" in report


def test_a_rerun_into_the_bucket_finds_every_step_complete(s3_run, dask_client):
    url, stats = s3_run
    s3 = fsspec.filesystem("s3")
    s3.invalidate_cache()
    parts = {p: s3.info(p)["ETag"] for p in s3.glob(f"{url}/*/part-*.parquet")}
    stamps = {p: s3.info(p)["LastModified"] for p in parts}
    again = run_demo(url, dask_client)
    assert [s["documents_out"] for s in again] == [s["documents_out"] for s in stats]
    s3.invalidate_cache()
    assert {p: s3.info(p)["LastModified"] for p in parts} == stamps


def test_shards_verify_reads_a_bucket(s3_run, capsys):
    from tokenize_bpe.shards_cli import verify

    url, _ = s3_run
    pack = fsspec.filesystem("s3").glob(f"{url}/*-pack")[0]
    assert verify(f"s3://{pack}") == []
    assert "ok" in capsys.readouterr().out
