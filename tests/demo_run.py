"""The shipped demo recipe (webtext.yaml), run from the repository root (its sample paths are relative to it),
with its ablation at a test's budget: the tests that run the whole recipe (in-process, on a loopback cluster,
into a bucket, in compose) train each (mix, seed) on 20k tokens with small evaluations, as
``corpus-forge run --set`` lets a user do. ``make demo`` keeps the recipe's own 200k-token budget; the
trainer's own tests cover what a longer run measures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from corpus_forge.recipe import apply_sets, load_recipe, run_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "pipelines" / "recipes" / "webtext.yaml"
QUICK_ABLATION = ("ablate.tokens=20000", "ablate.train.eval_every=10", "ablate.train.val_tokens=4096",
                  "ablate.train.curve_bytes=4096")


def set_args() -> list[str]:
    """``QUICK_ABLATION`` as ``corpus-forge run`` arguments."""
    return [arg for s in QUICK_ABLATION for arg in ("--set", s)]


def run_demo(out: str, client: Any) -> list[dict[str, Any]]:
    """Run the whole demo recipe (its ablation at the tests' budget) into ``out`` (a folder or a URL) on
    ``client``; return each step's stats."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return run_recipe(apply_sets(load_recipe(str(RECIPE)), list(QUICK_ABLATION)), out, progress=False,
                          client=client)
    finally:
        os.chdir(cwd)
