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


def test_a_reference_to_no_earlier_step_names_the_key(tmp_path):
    r = load_recipe(_write(tmp_path, "inputs: [x]\nstages:\n"
                                     "  - extract: {url_filters: [{type: karma, table: '@karma'}]}\n"
                                     "  - karma: {inputs: [y]}\n"))
    with pytest.raises(ConfigError, match=r"stages\[0\]\.extract\.url_filters\[0\]\.table: '@karma' names no earlier"):
        run_recipe(r, str(tmp_path / "o"), progress=False)


def test_from_and_until_run_part_of_a_recipe(tmp_path, data_dir, dask_client):
    dumps = data_dir / "karma" / "RS_v2_2005-06.xz"
    path = _write(tmp_path, f"inputs: ['{data_dir}/warc/whirlwind.warc.gz']\nstages:\n"
                            f"  - karma: {{inputs: ['{dumps}']}}\n"
                            "  - extract: {url_filters: [{type: karma, table: '@karma', annotate_only: true}]}\n")
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="earlier step karma has not completed"):
        run_recipe(load_recipe(path), str(out), progress=False, client=dask_client, start="extract")
    first = run_recipe(load_recipe(path), str(out), progress=False, client=dask_client, until="karma")
    assert [s["stage"] for s in first] == ["karma"] and not (out / "02-extract").exists()
    rest = run_recipe(load_recipe(path), str(out), progress=False, client=dask_client, start="extract")
    assert [s["stage"] for s in rest] == ["extract"] and rest[0]["documents_out"] == 1
    with pytest.raises(ConfigError, match="--until 'dedup': no such step"):
        run_recipe(load_recipe(path), str(out), progress=False, client=dask_client, until="dedup")


def test_missing_files_fail_before_any_work(tmp_path, data_dir):
    r = load_recipe(_write(tmp_path, f"inputs: ['{data_dir}/warc/whirlwind.warc.gz']\nstages:\n"
                                     "  - karma: {inputs: [no/such/RS_2019-*.zst]}\n  - extract: {}\n"))
    with pytest.raises(ConfigError, match=r"stages\[0\]\.karma\.inputs: no input matches 'no/such/RS_2019"):
        run_recipe(r, str(tmp_path / "o"), progress=False)
    r = load_recipe(_write(tmp_path, f"inputs: ['{data_dir}/warc/whirlwind.warc.gz']\nstages:\n"
                                     "  - extract: {}\n  - decontaminate: {wikipedia_reference: [no/dump.xml.bz2]}\n"))
    with pytest.raises(ConfigError, match=r"stages\[1\]\.decontaminate: .*file not found: no/dump.xml.bz2"):
        run_recipe(r, str(tmp_path / "o2"), progress=False)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()  # nothing ran
