"""Bigger clusters (issue #21, item 5): the Slurm job script and the Kubernetes pod spec the example builds,
checked without a cluster, and the example's run path against a real loopback scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from net_helpers import loopback_cluster

from corpus_forge.cluster_backends import WorkerShape, kubernetes_spec, slurm_cluster

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "examples" / "cluster_run.py"


def test_the_slurm_job_runs_one_single_threaded_worker_with_the_memory_limit():
    pytest.importorskip("dask_jobqueue")
    shape = WorkerShape(memory="6GiB", env={"CORPUS_FORGE_CACHE": "/scratch/cf-cache"})
    with slurm_cluster(0, shape, queue="cpu", account="lab", walltime="02:00:00",
                       prologue=["source /shared/venv/bin/activate"]) as cluster:
        script = cluster.job_script()
        address = cluster.scheduler_address
    lines = script.splitlines()
    assert {"#SBATCH -p cpu", "#SBATCH -A lab", "#SBATCH -t 02:00:00", "#SBATCH --cpus-per-task=1"} <= set(lines)
    assert "#SBATCH --mem=6G" in lines
    assert "source /shared/venv/bin/activate" in lines and "export CORPUS_FORGE_CACHE=/scratch/cf-cache" in lines
    (worker,) = [ln for ln in lines if "distributed.cli.dask_worker" in ln]
    assert address.startswith("tcp://127.0.0.1:") and address in worker
    assert "--nthreads 1" in worker and "--memory-limit 6.00GiB" in worker and "--nanny" in worker


def test_the_kubernetes_pods_run_one_single_threaded_worker_with_dask_limit_at_the_pod_limit():
    pytest.importorskip("dask_kubernetes")
    spec = kubernetes_spec("cf-run", "ghcr.io/me/corpus-forge:1", 12, WorkerShape(memory="6GiB", env={"A": "1"}))
    assert spec["kind"] == "DaskCluster" and spec["metadata"]["name"] == "cf-run"
    worker = spec["spec"]["worker"]
    assert worker["replicas"] == 12
    (container,) = worker["spec"]["containers"]
    assert container["image"] == "ghcr.io/me/corpus-forge:1"
    args = container["args"]
    assert args[:2] == ["dask", "worker"]
    assert args[args.index("--nthreads") + 1] == "1" and args[args.index("--memory-limit") + 1] == "6GiB"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "6Gi"}
    assert {"name": "A", "value": "1"} in container["env"]


def test_the_example_prints_the_job_script_without_starting_jobs():
    pytest.importorskip("dask_jobqueue")
    r = subprocess.run([sys.executable, str(EXAMPLE), "x.yaml", "--backend", "slurm", "--memory", "4GiB",
                        "--print-spec"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "#SBATCH --mem=4G" in r.stdout and "--memory-limit 4.00GiB" in r.stdout



def test_the_example_runs_a_recipe_on_a_loopback_scheduler(tmp_path):
    """``dask scheduler`` + one ``dask worker --nthreads 1 --memory-limit`` on 127.0.0.1, as a user starts them;
    the example's run path (run_recipe_on) against it."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"name: tiny\ninputs: [{ROOT / 'samples' / 'sample-00000.warc.gz'}]\nstages:\n"
                      "  - extract: {time_limit: 5}\n  - filter: {filters: [{type: gopher_quality}]}\n")
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    with loopback_cluster(tmp_path, workers=1, nthreads=1, worker_args=("--memory-limit", "2GiB")) as addr:
        r = subprocess.run([sys.executable, str(EXAMPLE), str(recipe), "--out", str(tmp_path / "run"),
                            "--backend", "address", "--scheduler", addr], capture_output=True, text=True,
                           timeout=600, cwd=ROOT, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        assert (tmp_path / "run" / "01-extract" / "_SUCCESS").exists()
        assert (tmp_path / "run" / "02-filter" / "_SUCCESS").exists()
