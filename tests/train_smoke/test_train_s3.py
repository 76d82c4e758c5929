"""``train`` and ``ablate`` on an object store (a real S3 server, moto): ``--out s3://…`` writes whole objects
and gives the same numbers as a local run; shards, tokenizer and evaluation texts are read from the bucket;
a run interrupted there resumes on the same curve."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import fsspec
import pytest
import torch

from corpus_forge.cli import main as cli_main
from corpus_forge.runner import run_stage
from train_smoke import run_setup
from train_smoke.ablate import AblateStage
from train_smoke.config import TrainConfig
from train_smoke.data import TrainBatches, load_windows
from train_smoke.evaluate import EVAL_DIR, read_text
from train_smoke.pretrain import CHECKPOINT, train

PNG = b"\x89PNG\r\n\x1a\n"
STEPS, LOG_EVERY = 20, 5
SMALL = dict(max_steps=STEPS, block_size=32, batch_size=4, val_tokens=1024, checkpoint_every=10,
             log_every=LOG_EVERY, eval_every=10, progress=False, seed=3)


def curve(metrics: str) -> list[tuple]:
    """(step, loss, lr, val_loss) per metrics.jsonl row (not the timings)."""
    return [(r["step"], r["loss"], r["lr"], r.get("val_loss"))
            for r in (json.loads(ln) for ln in metrics.splitlines() if ln.strip())]


@pytest.fixture(autouse=True)
def _local_cache(tmp_path, monkeypatch):
    """Copies of remote shards and tokenizers in this test's folder, not the shared temp folder."""
    monkeypatch.setenv("CORPUS_FORGE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def book_head(tmp_path_factory) -> Path:
    """The first 10 kB of the shipped book excerpt, gzipped (read from a bucket, it is gunzipped there too)."""
    path = tmp_path_factory.mktemp("eval") / "book_head.txt.gz"
    path.write_bytes(gzip.compress(read_text(EVAL_DIR / "pride_and_prejudice.txt.gz")[:10_000].encode()))
    return path


@pytest.fixture(scope="module")
def local_run(brown_mix, book_head, tmp_path_factory) -> tuple[TrainConfig, dict, list[tuple]]:
    """The reference: everything local."""
    cfg = TrainConfig(shards=str(brown_mix), out=str(tmp_path_factory.mktemp("local")), eval=[str(book_head)],
                      **SMALL)
    summary = train(cfg)
    return cfg, summary, curve((Path(cfg.out) / "metrics.jsonl").read_text())


@pytest.fixture
def s3() -> fsspec.AbstractFileSystem:
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    return fs


def test_a_run_into_a_bucket_gives_the_local_numbers(local_run, s3_bucket, s3):
    cfg, ref, ref_curve = local_run
    out = f"{s3_bucket}/run"
    summary = train(cfg.model_copy(update={"out": out}))
    assert (summary["val_loss"], summary["val_bpb"], summary["eval_bpb"]) == (
        ref["val_loss"], ref["val_bpb"], ref["eval_bpb"])
    s3.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[1] for p in s3.ls(out)) == [CHECKPOINT, "metrics.jsonl", "summary.json"]
    assert json.loads(s3.cat_file(f"{out}/summary.json")) == summary
    rows = curve(s3.cat_file(f"{out}/metrics.jsonl").decode())
    assert len(rows) == STEPS // LOG_EVERY and rows == ref_curve
    ck = torch.load(io.BytesIO(s3.cat_file(f"{out}/{CHECKPOINT}")), weights_only=True)
    assert ck["step"] == STEPS
    assert not [p for p in s3.find(s3_bucket) if ".tmp-" in p]  # temporary files stay local: whole objects only


def test_shards_tokenizer_and_eval_text_read_from_a_bucket(local_run, brown_mix, tokenizer_dir, book_head,
                                                           s3_bucket, s3, tmp_path):
    cfg, ref, ref_curve = local_run
    s3.put(str(brown_mix), f"{s3_bucket}/mixes/brown", recursive=True)
    manifest = json.loads((brown_mix / "manifest.json").read_text())
    # the tokenizer named relative to the mix's parent, as a pack into the same bucket would write it
    s3.pipe_file(f"{s3_bucket}/mixes/brown/manifest.json", json.dumps({**manifest, "tokenizer": "tok"}).encode())
    s3.put_file(str(tokenizer_dir / "tokenizer.json"), f"{s3_bucket}/mixes/tok/tokenizer.json")
    s3.put_file(str(book_head), f"{s3_bucket}/eval/book_head.txt.gz")
    s3.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[1] for p in s3.ls(f"{s3_bucket}/mixes/brown")) == sorted(
        p.name for p in brown_mix.iterdir())
    remote = cfg.model_copy(update={"shards": f"{s3_bucket}/mixes/brown", "out": str(tmp_path / "run"),
                                    "eval": [f"{s3_bucket}/eval/book_head.txt.gz"]})
    summary = train(remote)
    assert summary["tokenizer"] == f"{s3_bucket}/mixes/tok"
    assert summary["mix"] == "brown"
    assert (summary["val_loss"], summary["val_bpb"], summary["eval_bpb"]) == (
        ref["val_loss"], ref["val_bpb"], ref["eval_bpb"])
    assert set(summary["eval_bpb"]) == {"book_head"}
    assert curve((tmp_path / "run" / "metrics.jsonl").read_text()) == ref_curve
    # the windows of a remote mix are those of the local one (document-aligned from the .idx)
    a = TrainBatches([load_windows(str(brown_mix), 32)], 32, 4, 3)
    b = TrainBatches([load_windows(f"{s3_bucket}/mixes/brown", 32)], 32, 4, 3)
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a.batch(7), b.batch(7), strict=True))


def test_the_train_command_writes_into_a_bucket(local_run, s3_bucket, s3, capsys):
    cfg, ref, _ = local_run
    out = f"{s3_bucket}/cli"
    flags = ["--shards", cfg.shards, "--out", out, "--eval", *cfg.eval, "--max-steps", str(STEPS),
             "--block-size", "32", "--batch-size", "4", "--val-tokens", "1024", "--checkpoint-every", "10",
             "--log-every", str(LOG_EVERY), "--eval-every", "10", "--seed", "3", "--no-progress"]
    assert cli_main(["train", *flags]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["val_loss"], printed["val_bpb"]) == (ref["val_loss"], ref["val_bpb"])
    s3.invalidate_cache()
    assert json.loads(s3.cat_file(f"{out}/summary.json"))["val_bpb"] == ref["val_bpb"]
    assert not Path(out).exists() and not Path("s3:").exists()  # nothing written to a local "s3:/..." folder


class _Interrupted(Exception):
    pass


def test_a_run_interrupted_in_a_bucket_resumes_on_the_same_curve(local_run, s3_bucket, s3, monkeypatch):
    cfg, ref, ref_curve = local_run
    out = f"{s3_bucket}/run"

    class Dying(TrainBatches):
        def batch(self, k: int):
            if k == 13:  # during step 14: the last checkpoint is step 10's
                raise _Interrupted
            return super().batch(k)

    monkeypatch.setattr(run_setup, "TrainBatches", Dying)
    with pytest.raises(_Interrupted):
        train(cfg.model_copy(update={"out": out}))
    monkeypatch.undo()
    s3.invalidate_cache()
    assert not s3.exists(f"{out}/summary.json")
    assert torch.load(io.BytesIO(s3.cat_file(f"{out}/{CHECKPOINT}")), weights_only=True)["step"] == 10
    metrics = s3.cat_file(f"{out}/metrics.jsonl").decode()
    assert [r[0] for r in curve(metrics)] == [5, 10]  # written with the checkpoint
    # a row past the checkpoint, as a run killed between writing its metrics and its checkpoint leaves
    s3.pipe_file(f"{out}/metrics.jsonl", (metrics + json.dumps({"step": 15, "loss": 9.0, "lr": 0.0}) + "\n").encode())

    summary = train(cfg.model_copy(update={"out": out, "resume": True}))
    s3.invalidate_cache()
    assert curve(s3.cat_file(f"{out}/metrics.jsonl").decode()) == ref_curve  # no duplicates, none missing
    assert (summary["val_loss"], summary["val_bpb"], summary["eval_bpb"]) == (
        ref["val_loss"], ref["val_bpb"], ref["eval_bpb"])
    assert json.loads(s3.cat_file(f"{out}/summary.json")) == summary


def test_ablate_into_a_bucket_on_local_and_remote_mixes(brown_mix, book_head, dask_client, s3_bucket, s3):
    s3.put(str(brown_mix), f"{s3_bucket}/pack/brown", recursive=True)
    s3.put_file(str(book_head), f"{s3_bucket}/eval/book_head.txt.gz")
    s3.invalidate_cache()
    # a pack output dir in the bucket stands for every mix in it
    found = AblateStage.from_options({"seeds": [0]}).partitions([f"{s3_bucket}/pack"])
    assert [(p.meta["mix"], p.path) for p in found] == [("brown", f"{s3_bucket}/pack/brown")]

    opts = {"mixes": {"local": str(brown_mix), "remote": f"{s3_bucket}/pack/brown"}, "seeds": [0],
            "tokens": 10 * 4 * 32, "eval": [f"{s3_bucket}/eval/book_head.txt.gz"],
            "train": {"block_size": 32, "batch_size": 4, "val_tokens": 512, "threads": 1}}
    out = f"{s3_bucket}/abl"
    stats = run_stage(AblateStage.from_options(opts), [], out, client=dask_client, progress=False)
    assert stats["partitions_done"] == 2 and stats["partitions_failed"] == 0
    s3.invalidate_cache()
    for name in ("_SUCCESS", "results.csv", "results.md", "loss.png", "bpb.png", "stats.json"):
        assert s3.exists(f"{out}/{name}"), name
    for name in ("loss.png", "bpb.png"):
        assert s3.cat_file(f"{out}/{name}").startswith(PNG)
    rows = list(csv.DictReader(io.StringIO(s3.cat_file(f"{out}/results.csv").decode())))
    assert sorted(r["mix"] for r in rows) == ["local", "remote"]
    # the same data, seed and model: the mix read from the bucket trains exactly as the local one
    by = {r["mix"]: r for r in rows}
    assert by["local"]["val_bpb"] == by["remote"]["val_bpb"] and by["local"]["val_loss"] == by["remote"]["val_loss"]
    for key in ("local-seed0", "remote-seed0"):
        run = f"{out}/runs/{key}"
        assert sorted(p.rsplit("/", 1)[1] for p in s3.ls(run)) == ["metrics.jsonl", "summary.json"]
        assert json.loads(s3.cat_file(f"{run}/summary.json"))["tokens_seen"] == 10 * 4 * 32
        assert len(curve(s3.cat_file(f"{run}/metrics.jsonl").decode())) == 10  # 10 steps, evaluated at each
    assert not s3.exists(f"{out}/_work/runs/local-seed0") and not s3.exists(f"{out}/_work/runs/remote-seed0")
    assert "| local | remote | val_bpb |" in s3.cat_file(f"{out}/results.md").decode()
    # run again: the bucket's mixes and texts hash the same, so nothing is redone
    again = run_stage(AblateStage.from_options(opts), [], out, client=dask_client, progress=False)
    assert again["partitions_done"] == 2 and again["partitions_failed"] == 0
    s3.invalidate_cache()
    assert json.loads(s3.cat_file(f"{out}/stats.json"))["ablation"]["runs"] == 2
