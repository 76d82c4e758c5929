"""The ablation review's defects (issue #20), each on real shards: seeds pair on a multi-threaded worker, a
checkpoint resumes whatever the device, ids outside the vocabulary and changed data are refused, evaluation
encodes as pack does, MFU comes from an exact table, and mixes are ranked on the evaluation texts."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from net_helpers import loopback_cluster

from corpus_forge.cli import main as cli_main
from corpus_forge.config import ConfigError, validate
from tokenize_bpe.shards import open_tokens, read_idx, write_shard
from train_smoke.ablate import AblateConfig, AblateStage
from train_smoke.ablate_results import ranking, results_markdown
from train_smoke.checkpoint import CHECKPOINT, load_checkpoint
from train_smoke.config import TrainConfig
from train_smoke.evaluate import EVAL_DIR, load_tokenizer, read_text
from train_smoke.model import GPT, config_for, peak_flops
from train_smoke.pretrain import train


@pytest.fixture(scope="module")
def small_eval(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "book_head.txt"
    path.write_text(read_text(EVAL_DIR / "pride_and_prejudice.txt.gz")[:6_000])
    return path


def tiny(mix: Path, out: Path, eval_text: Path, **kw) -> TrainConfig:
    opts = dict(shards=str(mix), out=str(out), max_steps=12, block_size=32, batch_size=4, val_tokens=512,
                eval=[str(eval_text)], progress=False, checkpoint_every=6, curve_bytes=1024)
    return TrainConfig(**(opts | kw))


# ---- 2. seeds pair whatever else runs in the process ---------------------------------------------------------
def test_a_seed_gives_the_same_weights_while_other_threads_draw_random_numbers():
    cfg = config_for("tiny", 512, 32)
    ref = torch.nn.utils.parameters_to_vector(GPT(cfg, seed=5).parameters())
    stop = threading.Event()

    def noise() -> None:  # what a second run on the same worker used to do to the global generator
        while not stop.is_set():
            torch.rand(1000)
            torch.manual_seed(int(time.time_ns()) % 1000)

    threads = [threading.Thread(target=noise) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        built = [torch.nn.utils.parameters_to_vector(GPT(cfg, seed=5).parameters()) for _ in range(5)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert all(torch.equal(ref, b) for b in built)


def test_two_runs_at_once_in_one_process_equal_two_runs_one_after_the_other(brown_mix, small_eval, tmp_path):
    alone = [train(tiny(brown_mix, tmp_path / f"alone{s}", small_eval, seed=s)) for s in (0, 1)]
    together: dict[int, dict] = {}
    threads = [threading.Thread(target=lambda s=s: together.__setitem__(
        s, train(tiny(brown_mix, tmp_path / f"together{s}", small_eval, seed=s)))) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in (0, 1):
        assert (together[s]["val_loss"], together[s]["eval_bpb"]) == (alone[s]["val_loss"], alone[s]["eval_bpb"])



@pytest.fixture
def two_thread_worker(tmp_path):
    """`dask scheduler` and one `dask worker --nthreads 2` on 127.0.0.1 (the README's plain cluster recipe)."""
    from distributed import Client

    with loopback_cluster(tmp_path, workers=1, nthreads=2) as addr, Client(addr) as client:
        yield client


DETERMINED = ("mix", "seed", "bpb_mean", "bpb_book_head", "val_bpb", "val_loss", "tokens_seen", "window_tokens",
              "steps", "params")


def _ablate(client, mixes: dict, eval_text: Path, out: Path) -> list[dict]:
    from corpus_forge.runner import run_stage

    cfg = validate(AblateConfig, {"mixes": mixes, "seeds": [0, 1], "tokens": 24 * 4 * 32, "eval": [str(eval_text)],
                                  "train": {"block_size": 32, "batch_size": 4, "val_tokens": 512,
                                            "curve_bytes": 1024}}, "ablate")
    stats = run_stage(AblateStage(cfg), [], str(out), client=client, progress=False)
    assert stats["partitions_done"] == 4
    with open(out / "results.csv") as f:
        return [{k: r[k] for k in r if k in DETERMINED or (k.startswith(("tokens_", "share_")) and "second" not in k)}
                for r in csv.DictReader(f)]


def test_an_ablation_on_a_two_thread_worker_equals_the_local_cluster(brown_mix, persuasion_mix, small_eval,
                                                                     dask_client, two_thread_worker, tmp_path):
    mixes = {"brown": str(brown_mix), "persuasion": str(persuasion_mix)}
    local = _ablate(dask_client, mixes, small_eval, tmp_path / "local")
    threaded = _ablate(two_thread_worker, mixes, small_eval, tmp_path / "threaded")
    assert threaded == local and len(local) == 4


# ---- 3. resume: generator states load on the CPU; changed data is refused ------------------------------------
def test_a_checkpoint_loads_for_another_device_with_cpu_generator_states(brown_mix, small_eval, tmp_path):
    cfg = tiny(brown_mix, tmp_path / "run", small_eval)
    train(cfg)
    # the old load (map_location=device) put the generator state on the device: set_state then raised
    old = torch.load(tmp_path / "run" / CHECKPOINT, map_location="meta", weights_only=True)
    with pytest.raises(TypeError):
        torch.Generator().set_state(old["rng"])
    ck = load_checkpoint(str(tmp_path / "run" / CHECKPOINT), "meta")  # meta: a non-CPU device without a GPU
    assert all(v.device.type == "meta" for v in ck["model"].values())
    torch.Generator().set_state(ck["rng"])  # a CPU ByteTensor
    assert ck["rng"].dtype == torch.uint8 and ck["rng"].device.type == "cpu"


def test_resuming_onto_repacked_shards_is_refused(brown_mix, small_eval, tmp_path):
    import shutil

    mix = tmp_path / "mix"
    shutil.copytree(brown_mix, mix)
    cfg = tiny(mix, tmp_path / "run", small_eval, max_steps=6)
    train(cfg)
    manifest = mix / "manifest.json"
    manifest.write_text(manifest.read_text().replace("}", ', "seed": 9}', 1))  # re-packed: another manifest
    with pytest.raises(ConfigError, match="other shards or another tokenizer"):
        train(cfg.model_copy(update={"resume": True}))


# ---- 4. ids outside the vocabulary --------------------------------------------------------------------------
def test_a_shard_with_ids_outside_the_vocabulary_is_refused_naming_it(brown_mix, small_eval, tmp_path, capsys):
    import shutil

    mix = tmp_path / "mix"
    shutil.copytree(brown_mix, mix)
    toks = np.asarray(open_tokens(mix / "val-00000.bin")).copy()
    toks[5] = 600  # the tokenizer has 512 ids
    write_shard(mix / "val-00000.bin", toks, read_idx(brown_mix / "val-00000.bin"), 1)
    code = cli_main(["train", "--shards", str(mix), "--out", str(tmp_path / "run"), "--max-steps", "2",
                     "--block-size", "32", "--eval", str(small_eval), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "val-00000.bin: token id 600 >= the tokenizer's 512 ids" in err
    assert not (tmp_path / "run" / "summary.json").exists()


# ---- 5. evaluation encodes as pack does ---------------------------------------------------------------------
def test_a_literal_endoftext_in_an_evaluation_text_is_text_as_in_pack(tokenizer_dir):
    from tokenize_bpe.encode import load_encoder

    encode, eot, vocab = load_tokenizer(tokenizer_dir)
    text = "He wrote <|endoftext|> on the card."
    assert encode(text) == load_encoder(str(tokenizer_dir)).encode_batch([text])[0]
    assert eot not in encode(text) and vocab == 512


# ---- 7. MFU: exact data-sheet figures, none for an unknown device -------------------------------------------
@pytest.mark.parametrize(("name", "tflops"), [
    ("NVIDIA H100 80GB HBM3", 989), ("NVIDIA H100 PCIe", 756), ("NVIDIA H100 NVL", 835), ("NVIDIA H200", 989),
    ("NVIDIA H200 NVL", 835), ("NVIDIA A100-SXM4-80GB", 312), ("NVIDIA L40S", 362), ("NVIDIA L40", 181),
    ("NVIDIA L4", 121), ("NVIDIA A10", 125), ("NVIDIA A10G", None), ("NVIDIA GeForce RTX 3060", None),
])
def test_peak_flops_match_the_device_exactly(name, tflops):
    got = peak_flops(name)
    assert (got / 1e12 if got else None) == tflops


# ---- 8. the ranking is on the evaluation texts, not each mix's own val split -----------------------------------
def test_mixes_are_ranked_by_mean_bits_per_byte_over_the_evaluation_texts():
    # b has the lower pooled val_bpb (its long text dominates) but the higher mean over the two texts
    runs = [{"mix": m, "seed": s, "val_loss": v, "val_bpb": pooled, "eval_bpb": per, "bpb_mean": sum(per.values()) / 2,
             "tokens_seen": 1, "steps": 1}
            for s in (0, 1)
            for m, v, pooled, per in (("a", 5.0, 3.1, {"long": 3.2, "short": 2.0}),
                                      ("b", 4.0, 3.0, {"long": 3.0, "short": 2.6}))]
    assert ranking(runs, ["a", "b"]) == ["a", "b"]
    md = results_markdown(runs, ["a", "b"])
    assert "1. a: 2.6000" in md.split("## Ranking")[1]
    assert "own val_loss" in md
