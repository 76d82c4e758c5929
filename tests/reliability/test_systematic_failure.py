"""A systematic failure must not pass as success (issue #14, item 6): the extractor's imports are declared and
checked at start-up, and a stage where one error-class reason took every record tried is reported as such."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from corpus_forge.health import systematic_failure
from pipelines.extract import ExtractConfig, ExtractStage

ROOT = Path(__file__).resolve().parents[2]
ERRORS = ExtractStage.error_reasons


def test_lxml_html_clean_is_a_declared_dependency():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.replace("-", "_").lower().startswith("lxml_html_clean") for d in deps)


def test_extract_error_reasons_are_failures_not_decisions():
    assert {"extract_error", "decode_error", "timeout", "corrupt_record"} <= ERRORS
    assert not {"not_response", "http_status", "not_html", "too_large", "extract_empty", "low_karma"} & ERRORS


def _stats(out: int, **removed: int) -> dict:
    return {"stage": "extract", "documents_in": out + sum(removed.values()), "documents_out": out,
            "removed": removed}


def test_every_record_tried_failed_is_systematic():
    # a WARC: most records are removed by decisions before extraction; every page tried failed
    msg = systematic_failure(_stats(0, not_response=34, extract_error=16), ERRORS, 1.0)
    assert msg is not None and "extract_error" in msg and "16 of the 16" in msg and "\n" not in msg


def test_some_failures_or_decisions_only_are_not():
    assert systematic_failure(_stats(15, not_response=34, extract_error=1), ERRORS, 1.0) is None
    assert systematic_failure(_stats(0, not_response=34, not_html=16), ERRORS, 1.0) is None  # decisions only
    assert systematic_failure(_stats(0), ERRORS, 1.0) is None  # nothing read
    # two different reasons are not "the same reason on every record"
    assert systematic_failure(_stats(0, extract_error=8, timeout=8), ERRORS, 1.0) is None


def test_share_is_configurable_and_validated():
    stats = _stats(4, not_response=30, decode_error=6)
    assert systematic_failure(stats, ERRORS, 1.0) is None
    msg = systematic_failure(stats, ERRORS, 0.5)
    assert msg is not None and "decode_error" in msg and "60%" in msg
    assert ExtractConfig(max_error_share=0.5).max_error_share == 0.5
    from pydantic import ValidationError

    for bad in (0, 1.5, -1):
        with pytest.raises(ValidationError):
            ExtractConfig(max_error_share=bad)
    with pytest.raises(ValueError):
        systematic_failure(stats, ERRORS, 0)


def test_a_healthy_real_run_is_not_flagged(data_dir):
    stage = ExtractStage()
    (part,) = stage.partitions([str(data_dir / "warc" / "warcfile.warc.gz")])
    res = stage.process(part)
    c = res.counters
    c.documents_out = res.kept.num_rows
    assert systematic_failure({"stage": "extract", **c.to_dict()}, ERRORS, 1.0) is None


_BROKEN = r"""
import json, sys
sys.modules["lxml_html_clean"] = None  # as in a venv made by an old pip: trafilatura cannot import
from corpus_forge.config import ConfigError
from corpus_forge.health import systematic_failure
from pipelines.extract import ExtractStage
stage = ExtractStage()
try:
    stage.check()
    check = None
except ConfigError as err:
    check = str(err)
(part,) = stage.partitions([sys.argv[1]])
res = stage.process(part)
c = res.counters
c.documents_out = res.kept.num_rows
stats = {"stage": "extract", **c.to_dict()}
print(json.dumps({"check": check, "removed": stats["removed"], "out": c.documents_out,
                  "health": systematic_failure(stats, set(stage.error_reasons), stage.config.max_error_share)}))
"""


def test_extract_with_trafilatura_unimportable(data_dir):
    r = subprocess.run([sys.executable, "-c", _BROKEN, str(data_dir / "warc" / "warcfile.warc.gz")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    # start-up: one line naming the missing module (the runner calls check() before any work: exit 2)
    assert got["check"] is not None and "lxml_html_clean" in got["check"] and "\n" not in got["check"]
    # on a worker where it cannot import either: every page is extract_error, and that is no success
    assert got["out"] == 0 and got["removed"] == {"extract_error": 16, "not_response": 34}
    assert got["health"] is not None and "extract_error" in got["health"]


def test_runner_fails_a_stage_where_every_record_failed(data_dir, tmp_path, dask_client):
    """Through the runner: a WARC whose every record is unreadable is no success (no _SUCCESS; exit 1)."""
    from corpus_forge.runner import run_stage, stage_failed

    out = tmp_path / "o"
    stats = run_stage(ExtractStage(), [str(data_dir / "warc" / "double-single-inflate-error.gz")], str(out),
                      client=dask_client, progress=False)
    assert stats["documents_out"] == 0 and stats["removed"] == {"corrupt_record": 2}
    assert "corrupt_record" in (stats.get("systematic_failure") or "")
    assert stage_failed(stats) and not (out / "_SUCCESS").exists()
    # a healthy input next to it: not systematic
    stats = run_stage(ExtractStage(), [str(data_dir / "warc" / "double-single-inflate-error.gz"),
                                       str(data_dir / "warc" / "whirlwind.warc.gz")], str(tmp_path / "o2"),
                      client=dask_client, progress=False)
    assert not stats.get("systematic_failure") and (tmp_path / "o2" / "_SUCCESS").exists()


def test_cli_start_up_check_is_one_line_exit_2(data_dir, tmp_path):
    code = ("import sys; sys.modules['lxml_html_clean'] = None; from corpus_forge.cli import main; "
            f"sys.exit(main(['extract', {str(data_dir / 'warc' / 'whirlwind.warc.gz')!r}, '--out', "
            f"{str(tmp_path / 'o')!r}, '--no-progress']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "lxml_html_clean" in lines[0] and "Traceback" not in r.stderr
