"""The same CLI against a separately started Dask cluster (`dask scheduler` + `dask worker` processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from net_helpers import free_port

BIN = Path(sys.executable).parent



@pytest.fixture
def external_cluster(tmp_path):
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)]
    procs.append(subprocess.Popen([str(BIN / "dask"), "worker", addr, "--nthreads", "1", "--nworkers", "2",
                                   "--local-directory", str(tmp_path / "w")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    from distributed import Client

    deadline = time.time() + 60
    while True:
        try:
            with Client(addr, timeout=5) as c:
                if len(c.scheduler_info()["workers"]) >= 2:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("external Dask cluster did not start")
        time.sleep(0.5)
    yield addr
    for p in procs[::-1]:
        p.terminate()
    for p in procs:
        p.wait(20)


def test_extract_on_external_scheduler(external_cluster, data_dir, tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([str(BIN / "corpus-forge"), "extract", str(data_dir / "warc" / "warcfile.warc.gz"),
                        str(data_dir / "warc" / "whirlwind.warc.gz"), "--out", str(out),
                        "--scheduler", external_cluster], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert f"connected to {external_cluster}" in r.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents_out"] == 17 and stats["partitions_done"] == 2
    # DASK_SCHEDULER_ADDRESS is honoured the same way
    r = subprocess.run([str(BIN / "corpus-forge"), "extract", str(data_dir / "warc" / "whirlwind.warc.wet.gz"),
                        "--out", str(tmp_path / "o2")], capture_output=True, text=True, timeout=180,
                       env={**os.environ, "DASK_SCHEDULER_ADDRESS": external_cluster})
    assert r.returncode == 0 and f"connected to {external_cluster}" in r.stderr
