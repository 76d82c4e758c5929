"""One code path for a laptop and a cluster: a Dask ``Client`` on a LocalCluster or a scheduler address."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from rich.console import Console

console = Console(stderr=True)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
# Settings for the workers we start (``corpus_forge/dask.yaml`` holds the same for cluster workers; the
# Docker image installs it):
# - Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off glibc's adaptive mmap
#   threshold: every allocation over 128 KiB becomes an mmap + page faults + munmap. Our stages allocate
#   MiB-sized buffers all the time (decompressed blocks, Arrow columns); measured on ``karma build``'s map
#   task: 3.5 s in a plain process, 5.2 s with that variable (bench/karma.py). Unset.
# - Each worker's statistical profiler (every 10 ms) and every process's event-loop tick (every 20 ms) take
#   the GIL from the task thread, which on a 2-core machine also shares its cores with the scheduler: a
#   100 ms profile interval (the dashboard's profile stays) and a 1 s tick. Measured on ``karma build`` (2M
#   lines): profiler off + 1 s tick was faster in 4 of 4 paired runs (~5%); these settings in 3 of 4.
CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.interval": "100ms",
    "distributed.admin.tick.interval": "1s",
}


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@contextlib.contextmanager
def get_client(scheduler: str | None = None, workers: int | None = None, quiet: bool = False) -> Iterator:
    """Yield a ``dask.distributed.Client``.

    ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``) connects to a running cluster; otherwise an embedded
    LocalCluster with ``workers`` single-threaded worker processes starts and stops with the block.
    """
    import dask
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        client = Client(address)
        if not quiet:
            console.print(f"[bold]Dask[/]: connected to {address} — dashboard {client.dashboard_link}")
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or default_workers()
    for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with dask.config.set(CLUSTER_CONFIG), LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster, Client(cluster) as client:
        if not quiet:
            console.print(f"[bold]Dask[/]: LocalCluster, {n} worker(s) — dashboard {client.dashboard_link}")
        yield client
