"""The demo recipe's local run, shared by the tests that read it (the whole recipe, WARC to ablation)."""

from __future__ import annotations

import pytest
from demo_run_helpers import run_demo


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, dask_client):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(str(out), dask_client)
