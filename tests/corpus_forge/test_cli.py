"""The command line as a user meets it: help, one-line errors, exit codes, a real run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from corpus_forge.cli import main

EXE = [sys.executable, "-m", "corpus_forge.cli"]


def test_every_stage_documents_its_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["extract", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--out", "--scheduler", "--workers", "--keep-removed", "--config", "corrupt_record"):
        assert opt in text


def test_missing_input_is_a_one_line_error(tmp_path, capsys):
    code = main(["extract", str(tmp_path / "nope.warc.gz"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("corpus-forge extract: error:") and "nope.warc.gz" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_config_with_unknown_key_names_the_key(tmp_path, capsys, data_dir):
    cfg = tmp_path / "extract.yaml"
    cfg.write_text("time_limit: 2\nmax_html_byte: 10\n")
    code = main(["extract", str(data_dir / "warc" / "whirlwind.warc.gz"), "--out", str(tmp_path / "o"),
                 "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and "max_html_byte: unknown key" in err


def test_bad_value_names_the_key(tmp_path, capsys, data_dir):
    code = main(["extract", str(data_dir / "warc" / "whirlwind.warc.gz"), "--out", str(tmp_path / "o"),
                 "--max-html-bytes", "-5"])
    assert code == 2 and "max_html_bytes" in capsys.readouterr().err


def test_cli_run_end_to_end_and_nonzero_exit_when_no_partition_works(tmp_path, data_dir):
    out = tmp_path / "o"
    r = subprocess.run([*EXE, "extract", str(data_dir / "warc" / "whirlwind.warc.wet.gz"),
                        str(data_dir / "warc" / "whirlwind.warc.gz"), "--out", str(out), "--workers", "1"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "dashboard http://" in r.stderr and "documents out" in r.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents_out"] == 2
    junk = tmp_path / "junk.warc"
    junk.write_text("not an archive\n")
    r = subprocess.run([*EXE, "extract", str(junk), "--out", str(tmp_path / "o2"), "--workers", "1",
                        "--no-progress"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 1


def test_paths_listing_is_expanded_with_prefix(data_dir):
    from corpus_forge.io import expand_inputs

    # whirlwind's listing: 300 relative lines (`zcat | wc -l`), e.g. part-00000-….c000.gz.parquet
    files = expand_inputs([str(data_dir / "warc" / "CC-MAIN-2024-22.warc.paths.gz")], prefix="s3://commoncrawl/")
    assert len(files) == 300
    assert files[0] == "s3://commoncrawl/part-00000-4dd72944-e9c0-41a1-9026-dfd2d0615bf2.c000.gz.parquet"


@pytest.mark.parametrize("where", ["out", "input"])
def test_a_url_whose_filesystem_is_not_installed_is_a_one_line_error(tmp_path, capsys, data_dir, where):
    """gcsfs is not a dependency: gs:// as --out or as an input is exit 2 naming the package, not a traceback."""
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    args = (["bpe", str(data_dir / "text" / "books"), "--out", "gs://bucket/tok"] if where == "out"
            else ["bpe", "gs://bucket/corpus", "--out", str(tmp_path / "tok")])
    assert main([*args, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gcsfs" in err and "gs://bucket/" in err
