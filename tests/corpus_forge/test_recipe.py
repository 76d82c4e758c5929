"""Recipes: validated on load with errors naming the bad key; a run writes stage folders and a report."""

from __future__ import annotations

import json

import pytest

from corpus_forge.config import ConfigError
from corpus_forge.recipe import load_recipe, run_recipe


def _write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return str(p)


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="stagez: unknown key"):
        load_recipe(_write(tmp_path, "inputs: [x]\nstagez: []\nstages:\n  - extract: {}\n"))


def test_unknown_stage_and_bad_stage_option(tmp_path):
    with pytest.raises(ConfigError, match="unknown stage 'extrakt'"):
        load_recipe(_write(tmp_path, "stages:\n  - extrakt: {}\n"))
    r = load_recipe(_write(tmp_path, "inputs: [x]\nstages:\n  - extract: {time_limt: 3}\n"))
    with pytest.raises(ConfigError, match=r"stages\[0\]\.extract: time_limt: unknown key"):
        run_recipe(r, str(tmp_path / "o"), progress=False)


def test_not_yaml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(_write(tmp_path, "stages: [extract: {a: }\n"))


def test_recipe_run_writes_stage_folders_and_report(tmp_path, data_dir, dask_client):
    path = _write(tmp_path, f"name: t\ninputs: ['{data_dir}/warc/warcfile.warc.gz']\n"
                            "stages:\n  - extract: {}\n")
    out = tmp_path / "run"
    run_recipe(load_recipe(path), str(out), progress=False)
    stats = json.loads((out / "01-extract" / "stats.json").read_text())
    assert stats["documents_out"] == 16
    assert (out / "funnel.png").stat().st_size > 1000
    html = (out / "report.html").read_text()
    assert "01-extract" in html and "not_response: 34" in html
