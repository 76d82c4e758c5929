"""The compose topology without containers: a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
the recipe run against them with `--scheduler`, and the output identical to the LocalCluster run (issue #15
item 5)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from net_helpers import free_port
from service_helpers import BIN, check_run, run_recipe


@pytest.fixture
def loopback_cluster(tmp_path):
    """`dask scheduler --host 127.0.0.1` (dashboard on 127.0.0.1 too) and two single-threaded `dask worker`
    processes, each with its own nanny, as separate processes: the address, and a function that lists the
    workers the scheduler knows."""
    from distributed import Client

    port, dash = free_port(), free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []

    def spawn(name: str, *args: str) -> None:
        with open(logs / f"{name}.log", "wb") as log:
            procs.append(subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=subprocess.STDOUT, env=env))

    spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
          "--dashboard-address", f"127.0.0.1:{dash}")
    for i in range(2):
        spawn(f"worker-{i}", "worker", addr, "--host", "127.0.0.1", "--nthreads", "1", "--name", f"w{i}",
              "--no-dashboard", "--local-directory", str(tmp_path / f"w{i}"))

    def workers() -> list[dict]:
        with Client(addr, timeout=5) as c:
            return list(c.scheduler_info(n_workers=-1)["workers"].values())

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if len(workers()) >= 2:
                    break
            except OSError:
                pass
            dead = [p.args for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                msg = "\n".join(f"{f.name}: {f.read_text()[-1500:]}" for f in sorted(logs.iterdir()))
                pytest.fail(f"loopback cluster did not start (exited: {dead}):\n{msg}")
            time.sleep(0.5)
        yield addr, workers
    finally:
        for p in procs[::-1]:  # workers first, then the scheduler
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def test_recipe_on_loopback_cluster_equals_local_run(loopback_cluster, local_run, tmp_path):
    addr, workers = loopback_cluster
    ws = workers()
    assert len(ws) == 2 and all(w["host"] == "127.0.0.1" for w in ws), ws
    out = tmp_path / "run"
    r = run_recipe(out, "--scheduler", addr)
    summary = check_run(r, out, "loopback cluster")
    assert summary == local_run
    # the run's tasks ran on these two workers (the same processes, still registered)
    from distributed import Client

    with Client(addr, timeout=5) as c:
        executed = c.run(lambda dask_worker: (dask_worker.name, dask_worker.state.executed_count))
    assert sorted(name for name, _ in executed.values()) == ["w0", "w1"]
    assert sum(n for _, n in executed.values()) > 0, executed
