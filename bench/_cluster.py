"""A loopback Dask cluster started the way a user starts one, and what its processes use.

    with LoopbackCluster(workers=2, memory_limit="3GiB", scratch=Path("/tmp/x")) as cluster:
        client = Client(cluster.address)
        with cluster.meter() as m:          # peak RSS per process, peak scratch disk, while the block runs
            ...
        m.peaks  # {"client": bytes, "scheduler": bytes, "worker-1": bytes, ...}; m.scratch_peak

``dask scheduler --host 127.0.0.1`` plus ``dask worker --nthreads 1 --memory-limit M`` processes (each with its
nanny), every worker's ``--local-directory`` (spill, p2p shuffle files) and the corpus-forge file cache under
``scratch``, so that scratch disk is one folder to measure. The processes read corpus-forge's Dask settings
(``corpus_forge/dask.yaml`` through ``DASK_CONFIG``, as the README tells a cluster's owner to install it and the
Docker image does; ``dask_config=False`` for Dask's own defaults). Also a moto S3 server on 127.0.0.1
(:class:`MotoServer`), a process of its own, for the object-store benches.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


class Meter:
    """Samples RSS of the named processes (every ``interval`` s) and the size of a scratch folder."""

    def __init__(self, procs: dict[str, Any], scratch: Path | None, interval: float = 0.25) -> None:
        self.procs, self.scratch, self.interval = procs, scratch, interval
        self.peaks: dict[str, int] = dict.fromkeys(procs, 0)
        self.scratch_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self, tick: int) -> None:
        for name, proc in self.procs.items():
            with contextlib.suppress(Exception):
                self.peaks[name] = max(self.peaks[name], proc.memory_info().rss)
        if self.scratch is not None and tick % 4 == 0:
            self.scratch_peak = max(self.scratch_peak, folder_bytes(self.scratch))

    def _loop(self) -> None:
        tick = 0
        while not self._stop.is_set():
            self._sample(tick)
            tick += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Meter:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(0)


class LoopbackCluster:
    """``dask scheduler`` + ``workers`` × ``dask worker --nthreads 1 --memory-limit`` on 127.0.0.1."""

    def __init__(self, workers: int = 2, memory_limit: str = "3GiB", scratch: Path | None = None,
                 env: dict[str, str] | None = None, dask_config: bool = True) -> None:
        self.n, self.memory_limit = workers, memory_limit
        self.scratch = scratch or Path("/tmp/cf-bench-scratch")
        self.env = {**os.environ, **(env or {}), "CORPUS_FORGE_CACHE": str(self.scratch / "cache")}
        if dask_config:
            self.env["DASK_CONFIG"] = str(self.scratch.parent / f"{self.scratch.name}-dask-config")  # not scratch
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def __enter__(self) -> LoopbackCluster:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed bench still stops its cluster
        self.scratch.mkdir(parents=True, exist_ok=True)
        if "DASK_CONFIG" in self.env:
            conf = Path(self.env["DASK_CONFIG"])
            conf.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / "corpus_forge" / "dask.yaml", conf / "corpus-forge.yaml")
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        log = open(self.scratch / "cluster.log", "ab")  # closed with the processes
        self._log = log
        self.procs.append(subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", "127.0.0.1:0"], env=self.env, stdout=log, stderr=log))
        for i in range(self.n):
            self.procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--memory-limit", self.memory_limit,
                 "--name", f"worker-{i + 1}", "--local-directory", str(self.scratch / f"worker-{i + 1}"),
                 "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"], env=self.env, stdout=log, stderr=log))
        from distributed import Client

        with Client(self.address, timeout="60s") as c:
            c.wait_for_workers(self.n, timeout=120)
        return self

    def __exit__(self, *exc: Any) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        self._log.close()

    def processes(self) -> dict[str, Any]:
        """psutil handles: the scheduler and each worker process (the nanny's child, where tasks run)."""
        import psutil

        out: dict[str, Any] = {"scheduler": psutil.Process(self.procs[0].pid)}
        for i, p in enumerate(self.procs[1:], 1):
            nanny = psutil.Process(p.pid)
            kids = [k for k in nanny.children() if "resource_tracker" not in " ".join(k.cmdline())]
            out[f"worker-{i}"] = kids[0] if kids else nanny
        return out

    @contextlib.contextmanager
    def meter(self, client_pid: int | None = None) -> Iterator[Meter]:
        import psutil

        procs = {"client": psutil.Process(client_pid or os.getpid()), **self.processes()}
        with Meter(procs, self.scratch) as m:
            yield m


def spilled_bytes(client: Any) -> int:
    """Bytes the workers have spilled to disk so far (Dask's SpillBuffer counter), summed."""
    def one(dask_worker: Any) -> int:
        total = getattr(getattr(dask_worker, "data", None), "spilled_total", None)
        return int(getattr(total, "disk", 0) or 0)

    return int(sum(client.run(one).values()))


class MotoServer:
    """``moto_server`` on a free loopback port, in its own process; ``env`` points boto at it."""

    def __enter__(self) -> MotoServer:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.url}
        self.proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        os.environ.update(self.env)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # holding 100k+ objects (GBs), it may not stop in time
            self.proc.kill()
            self.proc.wait()


def dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
