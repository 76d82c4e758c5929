"""One code path for a laptop and a cluster: a Dask ``Client`` on a LocalCluster or a scheduler address."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from rich.console import Console

console = Console(stderr=True)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@contextlib.contextmanager
def get_client(scheduler: str | None = None, workers: int | None = None, quiet: bool = False) -> Iterator:
    """Yield a ``dask.distributed.Client``.

    ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``) connects to a running cluster; otherwise an embedded
    LocalCluster with ``workers`` single-threaded worker processes starts and stops with the block.
    """
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
    with LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster, Client(cluster) as client:
        if not quiet:
            console.print(f"[bold]Dask[/]: LocalCluster, {n} worker(s) — dashboard {client.dashboard_link}")
        yield client
