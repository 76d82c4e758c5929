"""The service tests' shared fixture: the recipe's LocalCluster reference run (once per session)."""

from __future__ import annotations

import pytest
from service_helpers import check_run, run_recipe


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> dict[str, dict]:
    """The recipe on an embedded LocalCluster (2 workers): the reference the service runs must equal."""
    out = tmp_path_factory.mktemp("local") / "run"
    return check_run(run_recipe(out, "--workers", "2"), out, "LocalCluster")
