"""Run a recipe on a Slurm or Kubernetes Dask cluster (or on any running scheduler), from a laptop or login node.

    python examples/cluster_run.py RECIPE.yaml --out DIR --backend slurm --workers 64 --memory 8GiB \\
        --queue cpu --account lab --prologue "source /shared/venv/bin/activate" --scheduler-host 10.0.0.5
    python examples/cluster_run.py RECIPE.yaml --out s3://bucket/run --backend kubernetes --workers 64 \\
        --memory 8GiB --image ghcr.io/you/corpus-forge:latest
    python examples/cluster_run.py RECIPE.yaml --out DIR --backend address --scheduler tcp://127.0.0.1:8786
    python examples/cluster_run.py RECIPE.yaml --backend slurm --print-spec     # the job script, nothing started

Every backend ends in the same call: ``corpus_forge.cluster_backends.run_recipe_on(scheduler_address, ...)``,
the code path ``corpus-forge run --scheduler`` takes. Needs ``pip install 'corpus-forge[cluster]'``.
"""

from __future__ import annotations

import argparse
import json
import sys

from corpus_forge.cluster_backends import (
    WorkerShape,
    kubernetes_cluster,
    kubernetes_spec,
    run_recipe_on,
    slurm_cluster,
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("--out", default=None)
    ap.add_argument("--backend", choices=["slurm", "kubernetes", "address"], required=True)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--memory", default="8GiB", help="per worker (Dask's --memory-limit; the job's or pod's memory)")
    ap.add_argument("--scheduler", default=None, help="--backend address: a running scheduler")
    ap.add_argument("--queue", default=None)
    ap.add_argument("--account", default=None)
    ap.add_argument("--walltime", default="04:00:00")
    ap.add_argument("--prologue", action="append", default=[], help="a line the job runs before the worker")
    ap.add_argument("--scheduler-host", default="127.0.0.1", help="slurm: the address compute nodes reach")
    ap.add_argument("--image", default="ghcr.io/dask/dask:latest", help="kubernetes: an image with corpus-forge")
    ap.add_argument("--name", default="corpus-forge")
    ap.add_argument("--print-spec", action="store_true", help="print the job script / pod spec and stop")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    shape = WorkerShape(memory=a.memory)
    if a.backend == "address":
        run_recipe_on(a.scheduler, a.recipe, a.out)
        return 0
    if a.backend == "kubernetes":
        spec = kubernetes_spec(a.name, a.image, a.workers, shape)
        if a.print_spec:
            print(json.dumps(spec, indent=2))
            return 0
        with kubernetes_cluster(spec) as cluster:
            run_recipe_on(cluster.scheduler_address, a.recipe, a.out)
        return 0
    with slurm_cluster(0 if a.print_spec else a.workers, shape, queue=a.queue, account=a.account,
                       walltime=a.walltime, prologue=a.prologue, scheduler_host=a.scheduler_host) as cluster:
        if a.print_spec:
            print(cluster.job_script())
            return 0
        run_recipe_on(cluster.scheduler_address, a.recipe, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
