"""Loopback helpers for the tests that start schedulers and servers: a free TCP port on 127.0.0.1, and a Dask
cluster started the way a user starts one (`dask scheduler` plus `dask worker` processes, all on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def loopback_cluster(tmp_path: Path, workers: int = 2, nthreads: int = 1,
                     worker_args: tuple[str, ...] = ()) -> Iterator[str]:
    """`dask scheduler --host 127.0.0.1` (dashboard on 127.0.0.1 too) and ``workers`` `dask worker` processes
    with ``nthreads`` threads each, each with its own nanny; yields the scheduler address once every worker has
    joined, and stops them all (workers first) afterwards. Logs in ``tmp_path/logs``."""
    from distributed import Client

    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen] = []

    def spawn(name: str, *args: str) -> None:
        with open(logs / f"{name}.log", "wb") as log:
            procs.append(subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=subprocess.STDOUT, env=env))

    spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
          "--dashboard-address", f"127.0.0.1:{free_port()}")
    for i in range(workers):
        spawn(f"worker-{i}", "worker", addr, "--host", "127.0.0.1", "--nthreads", str(nthreads), "--name", f"w{i}",
              "--no-dashboard", "--local-directory", str(tmp_path / f"w{i}"), *worker_args)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(addr, timeout=5) as c:
                    if len(c.scheduler_info(n_workers=-1)["workers"]) >= workers:
                        break
            except OSError:
                pass
            dead = [p.args for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                msg = "\n".join(f"{f.name}: {f.read_text()[-1500:]}" for f in sorted(logs.iterdir()))
                raise RuntimeError(f"loopback cluster did not start (exited: {dead}):\n{msg}")
            time.sleep(0.5)
        yield addr
    finally:
        for p in procs[::-1]:  # workers first, then the scheduler
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
