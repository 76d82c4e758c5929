"""Training on a real shard: the loss falls, a killed run resumes on the same curve, the CLI names bad keys."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from corpus_forge.cli import main as cli_main
from corpus_forge.config import ConfigError
from train_smoke.config import TrainConfig
from train_smoke.evaluate import EVAL_DIR, read_text
from train_smoke.pretrain import CHECKPOINT, train

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def small_eval(tmp_path_factory) -> Path:
    """The first 20 kB of the shipped book excerpt: bits per byte in a fraction of the time."""
    path = tmp_path_factory.mktemp("eval") / "book_head.txt"
    path.write_text(read_text(EVAL_DIR / "pride_and_prejudice.txt.gz")[:20_000])
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(brown_mix, small_eval, tmp_path_factory) -> tuple[TrainConfig, dict]:
    cfg = TrainConfig(shards=str(brown_mix), out=str(tmp_path_factory.mktemp("run")), max_steps=80,
                      block_size=64, batch_size=8, val_tokens=4096, eval=[str(small_eval)], progress=False,
                      hellaswag=True, hellaswag_items=40)
    return cfg, train(cfg)


def test_a_tiny_model_learns_the_father_brown_stories(trained):
    cfg, summary = trained
    log = rows(Path(cfg.out) / "metrics.jsonl")
    vals = [r["val_loss"] for r in log if "val_loss" in r]
    assert len(vals) == 10  # evaluated 10 times over the run
    # from ln 512 = 6.24 nats (uniform) to well below in 80 steps of 512 tokens
    assert vals[0] < math.log(512)
    assert vals[-1] < vals[0] - 0.5 and vals[-1] < 5.0
    assert all(set(r) >= {"step", "loss", "lr", "tokens_per_second", "mfu"} for r in log)
    assert summary["val_loss"] == pytest.approx(vals[-1], abs=1e-6)
    assert summary["window_tokens"] == 80 * 8 * 64
    # trained targets: a window's overlap with its predecessor is context only
    assert 0.9 * 80 * 8 * 64 < summary["tokens_seen"] <= 80 * 8 * 64
    assert summary["tokens_seen_by_source"] == {"brown": summary["tokens_seen"]}
    assert set(summary["eval_bpb"]) == {"book_head"}
    assert 1.0 < summary["val_bpb"] < 8.0  # better than a byte-uniform guess on unseen Austen
    for key in ("val_loss", "val_bpb", "eval_bpb", "tokens_seen", "tokens_per_second", "device", "params",
                "seed", "mix"):
        assert key in summary
    assert summary["mix"] == "brown" and summary["device"] == "cpu"
    for key in ("hellaswag_acc", "hellaswag_acc_norm", "hellaswag_acc_token"):
        assert summary[key] in {k / 40 for k in range(41)}  # scored on 40 items (asked for on CPU)
    assert json.loads((Path(cfg.out) / "summary.json").read_text()) == summary


def test_the_checkpoint_loads_with_weights_only(trained):
    cfg, summary = trained
    ck = torch.load(Path(cfg.out) / CHECKPOINT, weights_only=True)
    assert ck["step"] == 80
    assert set(ck) >= {"model", "optimizer", "rng", "curve"}
    assert sum(v.numel() for k, v in ck["model"].items() if k != "lm_head.weight") == summary["params"]


def test_resuming_with_another_curve_option_is_refused(trained):
    cfg, _ = trained
    with pytest.raises(ConfigError, match="batch_size"):
        train(cfg.model_copy(update={"resume": True, "batch_size": 4}))


def test_a_killed_run_resumes_on_the_same_loss_curve(brown_mix, small_eval, tmp_path):
    flags = ["--shards", str(brown_mix), "--max-steps", "400", "--block-size", "32", "--batch-size", "4",
             "--checkpoint-every", "20", "--log-every", "5", "--val-tokens", "1024", "--eval", str(small_eval),
             "--threads", "1", "--seed", "7", "--no-progress"]
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "corpus_forge.cli", "train", "--out", str(killed), *flags]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not (killed / CHECKPOINT).exists():  # the first checkpoint (step 20 of 400), then kill -9
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()  # it really died midway
    subprocess.run([*cmd, "--resume"], cwd=REPO, env=env, check=True, capture_output=True)

    straight = tmp_path / "straight"
    assert cli_main(["train", "--out", str(straight), *flags]) == 0

    def curve(run: Path) -> list[tuple]:
        return [(r["step"], r["loss"], r["lr"], r.get("val_loss")) for r in rows(run / "metrics.jsonl")]

    assert len(curve(straight)) == 400 // 5
    assert curve(killed) == curve(straight)
    a, b = (json.loads((r / "summary.json").read_text()) for r in (killed, straight))
    assert (a["val_loss"], a["eval_bpb"]) == (b["val_loss"], b["eval_bpb"])


def test_a_misspelt_config_key_is_one_error_naming_it(brown_mix, tmp_path, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"shards: {brown_mix}\nout: {tmp_path / 'run'}\nbatch_sise: 4\n")
    assert cli_main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "batch_sise: unknown key" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_train_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["train", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for field, info in TrainConfig.model_fields.items():
        if (info.json_schema_extra or {}).get("cli", True):
            assert "--" + field.replace("_", "-") in out
