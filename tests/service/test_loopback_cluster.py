"""The compose topology without containers: a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
the recipe run against them with `--scheduler` (WARC through pack), and the output identical to the
LocalCluster run (issue #15 item 5)."""

from __future__ import annotations

import pytest
from net_helpers import loopback_cluster as net_cluster
from service_helpers import check_run, run_recipe


@pytest.fixture
def loopback_cluster(tmp_path):
    """Two single-threaded `dask worker` processes and their scheduler on 127.0.0.1 (net_helpers): the address,
    and a function that lists the workers the scheduler knows."""
    from distributed import Client

    def workers() -> list[dict]:
        with Client(addr, timeout=5) as c:
            return list(c.scheduler_info(n_workers=-1)["workers"].values())

    with net_cluster(tmp_path, workers=2, nthreads=1) as addr:
        yield addr, workers


def test_recipe_on_loopback_cluster_equals_local_run(loopback_cluster, local_run, tmp_path):
    addr, workers = loopback_cluster
    ws = workers()
    assert len(ws) == 2 and all(w["host"] == "127.0.0.1" for w in ws), ws
    out = tmp_path / "run"
    # through pack: the ablation on real `dask worker` processes is test_trust's (a 2-thread worker gives the
    # LocalCluster's results.csv), and compose runs the whole recipe in CI
    r = run_recipe(out, "--scheduler", addr, "--until", "pack")
    summary = check_run(r, out, "loopback cluster")
    assert list(summary) == [k for k in local_run if not k.endswith("-ablate")]
    assert summary == {k: v for k, v in local_run.items() if k in summary}
    # the run's tasks ran on these two workers (the same processes, still registered)
    from distributed import Client

    with Client(addr, timeout=5) as c:
        executed = c.run(lambda dask_worker: (dask_worker.name, dask_worker.state.executed_count))
    assert sorted(name for name, _ in executed.values()) == ["w0", "w1"]
    assert sum(n for _, n in executed.values()) > 0, executed
