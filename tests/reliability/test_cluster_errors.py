"""Cluster set-up errors are one line, early (issue #14, item 8): bad --workers, a scheduler that is not there,
a scheduler with no workers; and the embedded LocalCluster listens on 127.0.0.1 only (item 7)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from net_helpers import free_port

from corpus_forge.cluster import get_client
from corpus_forge.config import ConfigError

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("workers", [-3, 0])
def test_bad_worker_count_is_a_config_error(workers):
    with pytest.raises(ConfigError, match="workers: must be a whole number >= 1"), get_client(workers=workers):
        pass


def test_unreachable_scheduler_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as err, get_client("tcp://127.0.0.1:1", quiet=True):
        pass
    msg = str(err.value)
    assert "tcp://127.0.0.1:1" in msg and "\n" not in msg



@pytest.fixture
def scheduler_without_workers():
    port = free_port()
    proc = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                             "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


def test_scheduler_with_no_workers_is_a_clear_error(scheduler_without_workers, monkeypatch):
    monkeypatch.setenv("CORPUS_FORGE_WAIT_FOR_WORKERS", "1")
    with pytest.raises(ConfigError, match="has no workers") as err, get_client(scheduler_without_workers, quiet=True):
        pass
    assert scheduler_without_workers in str(err.value)


def test_local_cluster_listens_on_loopback_only(dask_client):
    c = dask_client
    assert urlparse(c.scheduler.address).hostname == "127.0.0.1"
    assert urlparse(c.dashboard_link).hostname == "127.0.0.1"
    workers = c.scheduler_info()["workers"]
    assert workers and all(urlparse(a).hostname == "127.0.0.1" for a in workers)
    assert all(urlparse(w["nanny"]).hostname == "127.0.0.1" for w in workers.values())

    def http_hosts(dask_worker) -> list[str]:  # the worker's own dashboard server
        return [s.getsockname()[0] for s in dask_worker.http_server._sockets.values()]

    assert all(h == ["127.0.0.1"] for h in c.run(http_hosts).values())


@pytest.mark.parametrize(("flag", "words"), [(["--workers", "-3"], "workers: must be"),
                                             (["--scheduler", "tcp://127.0.0.1:1"], "tcp://127.0.0.1:1")])
def test_cli_gives_one_line_and_exit_2(data_dir, tmp_path, flag, words):
    r = subprocess.run([str(BIN / "corpus-forge"), "extract", str(data_dir / "warc" / "whirlwind.warc.gz"),
                        "--out", str(tmp_path / "o"), "--no-progress", *flag],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr
