"""The shipped demo recipe, run from the repository root (its sample paths are relative to it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from corpus_forge.recipe import load_recipe, run_recipe

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "pipelines" / "recipes" / "webtext.yaml"


def run_demo(out: str, client: Any) -> list[dict[str, Any]]:
    """Run the whole demo recipe into ``out`` (a folder or a URL) on ``client``; return each step's stats."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return run_recipe(load_recipe(str(RECIPE)), out, progress=False, client=client)
    finally:
        os.chdir(cwd)
