"""``corpus-forge run --set ID.KEY=VALUE``: one step's option changed for a run, validated like the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corpus_forge.config import ConfigError
from corpus_forge.recipe import apply_sets, build_steps, load_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "pipelines" / "recipes" / "webtext.yaml")


def _steps(sets: list[str]) -> dict:
    return {s.id: s.stage.config for s in build_steps(apply_sets(load_recipe(RECIPE), sets), "/tmp/o", "webtext")}


def test_sets_reach_nested_options_and_list_items_and_leave_the_recipe_as_it_was():
    recipe = load_recipe(RECIPE)
    before = recipe.model_dump()
    got = {s.id: s.stage.config for s in build_steps(
        apply_sets(recipe, ["ablate.tokens=20000", "ablate.train.eval_every=10", "ablate.seeds=[3, 4, 5]",
                            "quality.filters.0.fraction=0.3", "dedup.exact=false"]), "/tmp/o", "webtext")}
    assert got["ablate"].tokens == 20000 and got["ablate"].seeds == [3, 4, 5]
    assert got["ablate"].train == {"eval_every": 10}
    assert got["quality"].filters[0]["fraction"] == 0.3 and got["dedup"].exact is False
    assert recipe.model_dump() == before  # the loaded recipe is not changed in place
    plain = _steps([])
    assert plain["ablate"].tokens == 200000 and plain["quality"].filters[0]["fraction"] == 0.5


@pytest.mark.parametrize("item, words", [
    ("ablate.tokns=1", ["stages[8].ablate", "tokns"]),            # the step's own model names the key
    ("ablate.tokens=-5", ["stages[8].ablate", "tokens"]),
    ("nope.a=1", ["'nope'", "ids: karma, extract"]),
    ("filter", ["expected ID.KEY=VALUE"]),
    ("quality.filters.4.fraction=1", ["'4' is not an index of a list of 1"]),
    ("ablate.tokens.x=1", ["'tokens' is a value"]),
    ("ablate.seeds=[1", ["VALUE is not YAML"]),
])
def test_a_bad_set_is_one_error_naming_what_is_wrong(item, words):
    with pytest.raises(ConfigError) as err:
        _steps([item])
    assert all(w in str(err.value) for w in words), str(err.value)
    assert "\n" not in str(err.value)


def test_the_command_line_refuses_a_bad_set_with_exit_2_before_any_work(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "corpus_forge.cli", "run", RECIPE, "--out", str(out),
                        "--set", "ablate.tokns=1", "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2, r.stderr
    assert "tokns" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())
