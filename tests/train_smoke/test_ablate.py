"""``ablate`` on Dask: two real mixes x two seeds at equal tokens -> results.csv/md, loss.png, bpb.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from corpus_forge.config import ConfigError, validate
from corpus_forge.runner import run_stage
from train_smoke.ablate import AblateConfig, AblateStage
from train_smoke.evaluate import EVAL_DIR, read_text

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ablation(brown_mix, persuasion_mix, dask_client, tmp_path_factory):
    head = tmp_path_factory.mktemp("eval") / "book_head.txt"
    head.write_text(read_text(EVAL_DIR / "pride_and_prejudice.txt.gz")[:10_000])
    cfg = validate(AblateConfig, {
        "mixes": {"brown": str(brown_mix), "persuasion": str(persuasion_mix)}, "seeds": [0, 1],
        "tokens": 40 * 4 * 32, "eval": [str(head)],
        "train": {"block_size": 32, "batch_size": 4, "val_tokens": 1024, "threads": 1},
    }, "ablate")
    out = tmp_path_factory.mktemp("ablation")
    stats = run_stage(AblateStage(cfg), [], str(out), client=dask_client, progress=False)
    return out, stats, cfg


def test_ablate_writes_one_row_per_mix_and_seed(ablation):
    out, stats, _ = ablation
    assert stats["partitions_done"] == 4 and stats["partitions_failed"] == 0
    assert (out / "_SUCCESS").exists()
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["mix"], int(r["seed"])) for r in rows) == [("brown", 0), ("brown", 1),
                                                                ("persuasion", 0), ("persuasion", 1)]
    assert {r["window_tokens"] for r in rows} == {str(40 * 4 * 32)}  # equal budgets
    for r in rows:  # the one source of each mix trained every target token
        assert int(r[f"tokens_{r['mix']}"]) == int(r["tokens_seen"]) and float(r[f"share_{r['mix']}"]) == 1.0
    for r in rows:
        assert float(r["val_bpb"]) == pytest.approx(float(r["bpb_book_head"]))  # one text: combined = it
        assert 1.0 < float(r["val_bpb"]) < 8.0
    # the same seed on two mixes: same initial weights, different data, so different results
    by = {(r["mix"], r["seed"]): r for r in rows}
    assert by[("brown", "0")]["val_bpb"] != by[("persuasion", "0")]["val_bpb"]


def test_results_md_has_the_means_the_pairs_and_a_ranking(ablation):
    out, _, _ = ablation
    md = (out / "results.md").read_text()
    assert "| brown | 2 |" in md and "| persuasion | 2 |" in md
    pair_rows = [ln for ln in md.splitlines() if ln.startswith("| brown | persuasion |")]
    assert [ln.split(" | ")[2] for ln in pair_rows] == ["bpb_mean", "bpb_book_head", "val_bpb"]
    assert all("s0: " in ln and "s1: " in ln for ln in pair_rows)
    ranking = md.split("## Ranking")[1]
    assert "1. " in ranking and "2. " in ranking


def test_the_plots_are_pngs(ablation):
    out, _, _ = ablation
    for name in ("loss.png", "bpb.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000


def test_a_finished_run_is_not_rerun(ablation, dask_client):
    out, _, cfg = ablation
    summaries = sorted((out / "runs").glob("*/summary.json"))
    assert len(summaries) == 4
    before = {p: p.stat().st_mtime_ns for p in summaries}
    stats = run_stage(AblateStage(cfg), [], str(out), client=dask_client, progress=False)
    assert stats["partitions_done"] == 4
    assert {p: p.stat().st_mtime_ns for p in summaries} == before
    assert not list((out / "runs").glob("*/ckpt.pt"))  # checkpoints of finished runs are removed


def test_the_ablation_yaml_is_the_input(brown_mix, tmp_path):
    yaml_file = tmp_path / "ablation.yaml"
    yaml_file.write_text(f"mixes: {{b: {brown_mix}}}\nseeds: [3, 4]\ntokens: 1000\n")
    opts = AblateStage.cli_options({}, type("Args", (), {"inputs": [str(yaml_file)]})())
    stage = AblateStage.from_options(opts)
    assert [(p.key, p.meta["seed"]) for p in stage.partitions([str(yaml_file)])] == [("b-seed3", 3), ("b-seed4", 4)]


def test_a_pack_dir_as_input_means_every_mix_in_it(brown_mix):
    stage = AblateStage(AblateConfig(seeds=[0]))
    parts = stage.partitions([str(Path(brown_mix).parent)])
    assert [p.meta["mix"] for p in parts] == ["brown"]


def test_bad_ablations_are_named():
    with pytest.raises(ConfigError, match="seedz: unknown key"):
        validate(AblateConfig, {"seedz": [0]}, "ablate")
    with pytest.raises(ConfigError, match=r"train.*batch_sise"):
        validate(AblateConfig, {"train": {"batch_sise": 4}}, "ablate")
    with pytest.raises(ConfigError, match="set by the ablation"):
        validate(AblateConfig, {"train": {"seed": 4}}, "ablate")
    with pytest.raises(ConfigError, match="not a packed mix"):
        AblateStage(AblateConfig(mixes={"x": "/nonexistent"})).partitions([])


def test_stats_json_lists_every_run(ablation):
    out, _, _ = ablation
    stats = json.loads((out / "stats.json").read_text())
    assert stats["ablation"]["runs"] == 4
    assert sorted((r["mix"], r["seed"]) for r in stats["runs"]) == [("brown", 0), ("brown", 1),
                                                                   ("persuasion", 0), ("persuasion", 1)]


class _Cluster:
    """What prepare() asks of a Dask client: the workers, their declared resources and threads, and what a
    function run on each returns (4 cores, torch 2.13.0 unless told otherwise)."""

    def __init__(self, *resources: dict, nthreads: int = 1, torch: dict | None = None) -> None:
        self.workers = {f"tcp://w{i}": {"resources": r, "host": "h", "nthreads": nthreads}
                        for i, r in enumerate(resources)}
        self.torch = torch or {}

    def scheduler_info(self) -> dict:
        return {"workers": self.workers}

    def run(self, fn):
        if fn.__name__ == "worker_cores":
            return {a: 4 for a in self.workers}
        return {a: self.torch.get(a, "2.13.0") for a in self.workers}


def test_runs_ask_for_a_gpu_only_when_the_cluster_has_gpu_workers(brown_mix, dask_client, tmp_path):
    from corpus_forge.stage import RunContext

    stage = AblateStage(AblateConfig(mixes={"b": str(brown_mix)}, seeds=[0]))
    parts = stage.partitions([])
    ctx = stage.prepare(parts, RunContext(str(tmp_path), str(tmp_path), dask_client))  # the real LocalCluster
    assert stage.resources(parts[0], ctx) is None and all(t >= 1 for t in ctx.threads.values())
    ctx = stage.prepare(parts, RunContext(str(tmp_path), str(tmp_path), _Cluster({"GPU": 1}, {"GPU": 1})))
    assert stage.resources(parts[0], ctx) == {"GPU": 1}
    forced = AblateStage(AblateConfig(mixes={"b": str(brown_mix)}, seeds=[0], gpu=False))
    ctx = forced.prepare(parts, RunContext(str(tmp_path), str(tmp_path), _Cluster({"GPU": 1})))
    assert forced.resources(parts[0], ctx) is None


def test_torch_threads_come_from_each_hosts_cores_and_its_workers_threads(brown_mix, tmp_path):
    from corpus_forge.stage import RunContext

    stage = AblateStage(AblateConfig(mixes={"b": str(brown_mix)}, seeds=[0]))
    parts = stage.partitions([])
    # 4 cores on the host: 2 one-thread workers get 2 torch threads a run, 1 two-thread worker 2, 2 x 2 threads 1
    for workers, nthreads, threads in ((2, 1, 2), (1, 2, 2), (2, 2, 1)):
        ctx = stage.prepare(parts, RunContext(str(tmp_path), str(tmp_path), _Cluster(*[{}] * workers,
                                                                                   nthreads=nthreads)))
        assert set(ctx.threads.values()) == {threads}


def test_workers_on_different_torch_versions_are_refused(brown_mix, tmp_path):
    from corpus_forge.stage import RunContext

    stage = AblateStage(AblateConfig(mixes={"b": str(brown_mix)}, seeds=[0]))
    cluster = _Cluster({}, {}, torch={"tcp://w1": "2.9.1"})
    with pytest.raises(ConfigError, match="different torch versions"):
        stage.prepare(stage.partitions([]), RunContext(str(tmp_path), str(tmp_path), cluster))


def test_a_repacked_mix_is_trained_again(brown_mix, dask_client, tmp_path):
    import shutil

    mix = tmp_path / "mix"
    shutil.copytree(brown_mix, mix)
    head = tmp_path / "head.txt"
    head.write_text(read_text(EVAL_DIR / "wikitext2_test.txt.gz")[:3000])
    cfg = AblateConfig(mixes={"m": str(mix)}, seeds=[0], tokens=5 * 4 * 32, eval=[str(head)],
                       train={"block_size": 32, "batch_size": 4, "val_tokens": 256, "threads": 1})
    out = tmp_path / "out"
    run_stage(AblateStage(cfg), [], str(out), client=dask_client, progress=False)
    summary = out / "runs" / "m-seed0" / "summary.json"
    first = summary.stat().st_mtime_ns
    run_stage(AblateStage(cfg), [], str(out), client=dask_client, progress=False)
    assert summary.stat().st_mtime_ns == first  # same mix: nothing to do
    manifest = json.loads((mix / "manifest.json").read_text())
    (mix / "manifest.json").write_text(json.dumps({**manifest, "seed": 1}))  # as a pack with another seed would
    run_stage(AblateStage(cfg), [], str(out), client=dask_client, progress=False)
    assert summary.stat().st_mtime_ns != first
