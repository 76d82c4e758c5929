"""One code path for a laptop and a cluster: a Dask ``Client`` on a LocalCluster or a scheduler address."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from rich.console import Console

from corpus_forge.config import ConfigError

console = Console(stderr=True)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
# Settings for the workers we start (``corpus_forge/dask.yaml`` holds the same for cluster workers; the
# Docker image installs it):
# - Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off glibc's adaptive mmap
#   threshold: every allocation over 128 KiB becomes an mmap + page faults + munmap. Our stages allocate
#   MiB-sized buffers all the time (decompressed blocks, Arrow columns); measured on ``karma build``'s map
#   task: 3.5 s in a plain process, 5.2 s with that variable (bench/karma.py). Unset.
# - Each worker's statistical profiler (every 10 ms) and every process's event-loop tick (every 20 ms) take
#   the GIL from the task thread, which on a 2-core machine also shares its cores with the scheduler: a 1 s
#   tick, and the profiler off. Measured on ``karma build`` (2M lines): profiler off + 1 s tick was faster in
#   4 of 4 paired runs (~5%). The profiler also keeps a cumulative call tree per task prefix and an hour of
#   per-second trees, so a long-lived worker's RSS climbs with its run time: extract over 16,688 pages
#   (bench/scale.py's 4x), the workers' RSS between tasks rose 200 -> 245 MB with it and stayed at 180-184 MB
#   without (peak 297 vs 235 MB, and 1.5x faster under load). Turn it on to debug (the dashboard's Profile
#   tab): ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=True``; the interval stays 100 ms.
CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.worker.profile.interval": "100ms",
    "distributed.admin.tick.interval": "1s",
}


WAIT_FOR_WORKERS_ENV = "CORPUS_FORGE_WAIT_FOR_WORKERS"
WAIT_FOR_WORKERS = 60.0  # seconds a run waits for a running scheduler to have a worker
CONNECT_TIMEOUT = 10.0  # seconds to connect to a running scheduler


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: must be a whole number >= 1 (LocalCluster worker processes), got {workers!r}")
    return workers


def _probe(address: str) -> None:
    """Fail fast, with one line, when nothing listens at a ``tcp://`` / ``tls://`` scheduler address."""
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp", "tls"):
        return  # inproc://, ucx://, ...: let Dask connect
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise ConfigError(f"scheduler address {address!r}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {why} (is it running? "
                          f"start one with: dask scheduler --host 127.0.0.1)") from None


def _wait_seconds(wait_for_workers: float | None) -> float:
    if wait_for_workers is not None:
        return wait_for_workers
    raw = os.environ.get(WAIT_FOR_WORKERS_ENV)
    if raw is None:
        return WAIT_FOR_WORKERS
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{WAIT_FOR_WORKERS_ENV}={raw!r}: expected seconds") from None


def connect(address: str, wait_for_workers: float | None = None) -> Any:
    """A ``Client`` on the scheduler at ``address`` that has at least one worker, or a one-line ConfigError
    (nothing listening, no connection, or no worker within ``wait_for_workers`` seconds, default
    ``$CORPUS_FORGE_WAIT_FOR_WORKERS`` or 60)."""
    from distributed import Client

    wait = _wait_seconds(wait_for_workers)
    _probe(address)
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT}s")
    except (OSError, TimeoutError) as err:
        raise ConfigError(f"cannot connect to the Dask scheduler at {address}: {type(err).__name__}: "
                          f"{' '.join(str(err).split())}") from None
    try:
        client.wait_for_workers(1, timeout=wait)
    except (TimeoutError, OSError):
        client.close()
        raise ConfigError(f"the Dask scheduler at {address} has no workers (waited {wait:g} s); start one with: "
                          f"dask worker {address}") from None
    except BaseException:
        client.close()
        raise
    return client


@contextlib.contextmanager
def get_client(scheduler: str | None = None, workers: int | None = None, quiet: bool = False,
               wait_for_workers: float | None = None) -> Iterator:
    """Yield a ``dask.distributed.Client``.

    ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``) connects to a running cluster and waits for a worker (see
    :func:`connect`); otherwise an embedded LocalCluster with ``workers`` single-threaded worker processes,
    listening on 127.0.0.1 only (scheduler, workers, dashboards), starts and stops with the block. Bad
    values raise :class:`corpus_forge.config.ConfigError` with one line.
    """
    import dask
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        client = connect(address, wait_for_workers)
        if not quiet:
            console.print(f"[bold]Dask[/]: connected to {address} — dashboard {client.dashboard_link}")
        try:
            yield client
        finally:
            client.close()
        return
    n = _check_workers(workers)
    for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with dask.config.set(CLUSTER_CONFIG), LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster, Client(cluster) as client:
        if not quiet:
            console.print(f"[bold]Dask[/]: LocalCluster, {n} worker(s) — dashboard {client.dashboard_link}")
        yield client
