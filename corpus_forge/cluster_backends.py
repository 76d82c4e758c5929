"""Bigger clusters on existing engines: the same runs on Slurm (dask-jobqueue) or Kubernetes (dask-kubernetes).

corpus-forge needs only a scheduler address (``--scheduler``): these helpers start one of those clusters with
workers shaped as our tasks want them, one thread per worker process (the steps are GIL-bound Python) and a
memory limit Dask enforces, then run a recipe against it exactly as against a LocalCluster::

    from corpus_forge.cluster_backends import WorkerShape, slurm_cluster, run_recipe_on
    with slurm_cluster(64, WorkerShape(memory="8GiB"), queue="cpu", account="lab") as cluster:
        run_recipe_on(cluster.scheduler_address, "pipelines/recipes/fineweb.yaml", "/shared/out")

``examples/cluster_run.py`` is the command-line form. Install with ``pip install 'corpus-forge[cluster]'``.
Workers must see ``--out`` (a shared file system or an object store) and have corpus-forge installed (the
Docker image, or a virtual environment on the shared file system named in ``prologue``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WorkerShape:
    """One Dask worker process: ``cores`` CPUs for its job or pod, one task thread, ``memory`` for Dask's limit."""

    memory: str = "8GiB"  # the memory model (docs/memory-model.md) sizes this: ~2-4 GiB per task is plenty
    cores: int = 1
    env: dict[str, str] = field(default_factory=dict)


def _missing(package: str, err: ImportError) -> ImportError:
    return ImportError(f"{package} is not installed ({err}); pip install 'corpus-forge[cluster]'")


def slurm_cluster(workers: int, shape: WorkerShape | None = None, *, queue: str | None = None,
                  account: str | None = None, walltime: str = "04:00:00", prologue: list[str] | None = None,
                  scheduler_host: str = "127.0.0.1", **kwargs: Any) -> Any:
    """A ``dask_jobqueue.SLURMCluster`` of ``workers`` jobs, one worker process each (``sbatch`` per job).

    The scheduler runs here, on ``scheduler_host``: 127.0.0.1 only works when the jobs run on this machine;
    on a real cluster pass the login node's address reachable from the compute nodes (with Dask's TLS when
    the network is shared). ``kwargs`` go to SLURMCluster (e.g. ``job_extra_directives``).
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as err:
        raise _missing("dask-jobqueue", err) from None
    shape = shape or WorkerShape()
    cluster = SLURMCluster(cores=shape.cores, processes=1, memory=shape.memory, queue=queue, account=account,
                           walltime=walltime, job_script_prologue=[*(prologue or []),
                                                                   *(f"export {k}={v}" for k, v in shape.env.items())],
                           worker_extra_args=["--nthreads", "1"] if shape.cores != 1 else [],
                           scheduler_options={"host": scheduler_host, "dashboard_address": f"{scheduler_host}:0"},
                           **kwargs)
    cluster.scale(jobs=workers)
    return cluster


def kubernetes_spec(name: str, image: str, workers: int, shape: WorkerShape | None = None) -> dict[str, Any]:
    """The DaskCluster resource dask-kubernetes' operator creates: ``workers`` pods, one single-threaded worker
    each with Dask's memory limit at the pod's memory limit (so Dask spills before the kubelet kills)."""
    try:
        from dask_kubernetes.operator import make_cluster_spec
    except ImportError as err:
        raise _missing("dask-kubernetes", err) from None
    shape = shape or WorkerShape()
    k8s_memory = shape.memory.replace("GiB", "Gi").replace("MiB", "Mi")
    spec = make_cluster_spec(name=name, image=image, n_workers=workers, env=dict(shape.env),
                             worker_command="dask worker",
                             resources={"requests": {"cpu": str(shape.cores), "memory": k8s_memory},
                                        "limits": {"cpu": str(shape.cores), "memory": k8s_memory}})
    worker = spec["spec"]["worker"]["spec"]["containers"][0]
    worker["args"] = [*worker["args"], "--nthreads", "1", "--memory-limit", shape.memory]
    return spec


def kubernetes_cluster(spec: dict[str, Any], **kwargs: Any) -> Any:
    """A ``dask_kubernetes.operator.KubeCluster`` from :func:`kubernetes_spec` (needs the operator installed in
    the Kubernetes cluster and a kubeconfig); its scheduler is a pod behind a ClusterIP service."""
    try:
        from dask_kubernetes.operator import KubeCluster
    except ImportError as err:
        raise _missing("dask-kubernetes", err) from None
    return KubeCluster(custom_cluster_spec=spec, **kwargs)


def run_recipe_on(scheduler: str, recipe: str, out: str, **kwargs: Any) -> None:
    """``corpus-forge run RECIPE --out OUT --scheduler ADDRESS``, in this process (the client)."""
    from corpus_forge.recipe import load_recipe, run_recipe

    run_recipe(load_recipe(recipe), out, where=recipe, scheduler=scheduler, progress=False, **kwargs)
