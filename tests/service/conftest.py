"""The service tests' reference: the demo recipe's run on the session's LocalCluster (tests/conftest.py)."""

from __future__ import annotations

import subprocess

import pytest
from service_helpers import DEFAULT_RECIPE, RECIPE, check_run, run_recipe


@pytest.fixture(scope="session")
def local_run(request, tmp_path_factory) -> dict[str, dict]:
    """The recipe on an embedded LocalCluster (2 workers): the summary the service runs must equal. For the
    default recipe, the session's demo run; for another ($CF_RECIPE), a run of its own."""
    if RECIPE == DEFAULT_RECIPE:
        out, _ = request.getfixturevalue("demo_run")
        return check_run(subprocess.CompletedProcess([], 0, "", ""), out, "LocalCluster")
    out = tmp_path_factory.mktemp("local") / "run"
    return check_run(run_recipe(out, "--workers", "2"), out, "LocalCluster")
