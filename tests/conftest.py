"""Shared fixtures: paths to the bundled real data and one LocalCluster for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from decontam_helpers import load_pages
from s3_traffic import S3Traffic

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def dask_client():
    """A real LocalCluster with 2 worker processes, shared by the tests that need Dask."""
    from corpus_forge.cluster import get_client

    os.environ.pop("DASK_SCHEDULER_ADDRESS", None)
    with get_client(workers=2, quiet=True) as client:
        yield client


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, dask_client):
    """The shipped demo recipe, WARC to ablation, on the session's LocalCluster (tests/demo_run.py): its
    folder and each step's stats. The one reference run: the bucket, loopback-cluster and compose runs must
    equal it."""
    from demo_run import run_demo

    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(str(out), dask_client)


# ---- decontamination fixtures (the real pages and the bundled index, built once) ----
@pytest.fixture(scope="session")
def pages() -> list[dict]:
    return load_pages()


@pytest.fixture(scope="session")
def english_pages(pages) -> list[str]:
    """Long, mostly-ASCII pages, longest first (room to plant several items)."""
    texts = [p["text"] for p in pages if len(p["text"]) > 4000]
    texts = [t for t in texts if sum(c.isascii() for c in t) / len(t) > 0.98]
    return sorted(texts, key=len, reverse=True)


@pytest.fixture(scope="session")
def bundled():
    """The stage with default options and its context (index of the bundled benchmarks), built once."""
    from pipelines.decontaminate import DecontaminateStage

    stage = DecontaminateStage()
    return stage, stage.prepare([])


# ---- an S3 endpoint on 127.0.0.1 (moto's server), for the tests of --out s3://... ----
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _set_env(env: dict[str, str]) -> None:
    os.environ.update(env)


@pytest.fixture(scope="session")
def s3_endpoint(dask_client):
    """A real S3 protocol server (moto) on a free loopback port; its address is set in this process and in
    the shared cluster's workers and nannies (a restarted worker keeps it). Yields the endpoint URL."""
    import logging
    import socket

    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    server._server.app = _TRAFFIC[0] = S3Traffic(server._server.app)  # counts requests (s3_traffic)
    env = {**S3_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    _set_env(env)
    dask_client.run(_set_env, env)
    dask_client.run(_set_env, env, nanny=True)
    yield env["AWS_ENDPOINT_URL"]
    server.stop()


_TRAFFIC: list = [None]


@pytest.fixture
def s3_traffic(s3_endpoint):
    """The S3 server's request counts (reset for the test) and its throttling switch (see s3_traffic.py)."""
    traffic = _TRAFFIC[0]
    traffic.reset()
    traffic.throttle(0)
    yield traffic
    traffic.throttle(0)


@pytest.fixture
def s3_bucket(s3_endpoint, request) -> str:
    """A fresh, empty bucket for one test: ``s3://<name>``."""
    import re
    import uuid

    import fsspec

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    fs = fsspec.filesystem("s3")
    fs.mkdir(name)
    fs.invalidate_cache()
    return f"s3://{name}"
