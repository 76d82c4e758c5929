"""Reruns with other inputs, concurrent runs, unusable output folders and full disks (issue: reliability).

Each of these failed on the runner before partition keys came from the input's path and range, before the
lock and before OS errors were caught: duplicated or stale documents, two configurations in one folder,
tracebacks and leftover temporary files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus_forge.runner import StageError, run_stage
from pipelines.extract import ExtractConfig, ExtractStage

FILES = ["warcfile.warc.gz", "sample-0001.warc.gz", "whirlwind.warc.gz", "IAH-urls-wget.warc.gz",
         "post-test.warc.gz"]
SPLIT = ExtractConfig(split_bytes=30_000)  # many partitions per file, as in the report


def _inputs(data_dir: Path, files: list[str]) -> list[str]:
    return [str(data_dir / "warc" / f) for f in files]


def _rows(out: Path) -> list[str]:
    return sorted(i for f in out.glob("part-*.parquet") for i in pq.read_table(f).column("id").to_pylist())


def _fresh(data_dir: Path, files: list[str], out: Path, client) -> list[str]:
    run_stage(ExtractStage(SPLIT), _inputs(data_dir, files), str(out), client=client, progress=False)
    return _rows(out)


@pytest.mark.parametrize("change", ["one more input", "one fewer input"])
def test_rerun_with_other_inputs_gives_what_a_fresh_run_gives(data_dir, tmp_path, dask_client, change):
    first, second = (FILES[:4], FILES) if change == "one more input" else (FILES, FILES[1:])
    out = tmp_path / "x"
    run_stage(ExtractStage(SPLIT), _inputs(data_dir, first), str(out), client=dask_client, progress=False)
    stats = run_stage(ExtractStage(SPLIT), _inputs(data_dir, second), str(out), client=dask_client,
                      progress=False)
    rows = _rows(out)
    assert len(rows) == len(set(rows))  # no duplicated document
    assert rows == _fresh(data_dir, second, tmp_path / "fresh", dask_client)  # nothing stale either
    assert stats["documents_out"] == len(rows)  # stats.json agrees with the folder
    recorded = json.loads((out / "_stage.json").read_text())["inputs"]
    assert recorded == sorted(_inputs(data_dir, second))


def test_a_global_step_redoes_every_partition_when_its_inputs_change(data_dir, tmp_path, dask_client):
    """dedup decides across partitions: a changed partition set must not keep decisions made without it."""
    from pipelines.dedup import DedupStage

    ext = tmp_path / "ext"
    run_stage(ExtractStage(), _inputs(data_dir, FILES), str(ext), client=dask_client, progress=False)
    parts = sorted(str(p) for p in ext.glob("part-*.parquet"))
    out = tmp_path / "dedup"
    run_stage(DedupStage(), parts[:-1], str(out), client=dask_client, progress=False)
    stats = run_stage(DedupStage(), parts, str(out), client=dask_client, progress=False)
    assert stats["partitions_reset"] == len(parts) - 1
    fresh = run_stage(DedupStage(), parts, str(tmp_path / "fresh"), client=dask_client, progress=False)
    assert _rows(out) == _rows(tmp_path / "fresh") and stats["removed"] == fresh["removed"]


def test_two_runs_into_one_folder_cannot_both_write_it(data_dir, tmp_path, dask_client):
    out = tmp_path / "x"
    inputs = _inputs(data_dir, FILES[:2])
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def go(cfg: ExtractConfig) -> None:
        gate.wait()
        try:
            run_stage(ExtractStage(cfg), inputs, str(out), client=dask_client, progress=False)
        except StageError as err:
            errors.append(err)

    threads = [threading.Thread(target=go, args=(c,)) for c in (ExtractConfig(), ExtractConfig(time_limit=3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1  # one of them ran, the other was refused (lock or configuration)
    assert "another corpus-forge run" in str(errors[0]) or "different run" in str(errors[0])
    stamped = json.loads((out / "_stage.json").read_text())["config"]["time_limit"]
    done = json.loads((out / "stats.json").read_text())
    assert done["documents_out"] == len(_rows(out))
    # the folder holds the output of the configuration it is stamped with: a rerun of it is a no-op
    again = run_stage(ExtractStage(ExtractConfig(time_limit=stamped)), inputs, str(out), client=dask_client,
                      progress=False)
    assert again["documents_out"] == done["documents_out"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("corpus-forge")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_out_that_cannot_be_a_folder_is_one_line_and_exit_2(data_dir, tmp_path, where):
    f = tmp_path / "file"
    f.write_text("x")
    out = f if where == "a file" else f / "sub"
    r = _cli("extract", str(data_dir / "warc" / "whirlwind.warc.gz"), "--out", str(out), "--workers", "1",
             "--no-progress")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert str(out) in r.stderr


def test_read_only_out_is_one_line_with_the_errno(data_dir, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "--bind", str(ro), str(ro)], capture_output=True).returncode or \
                subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True).returncode:
            pytest.skip("cannot make a read-only bind mount here")
    else:
        ro.chmod(0o555)
    try:
        r = _cli("extract", str(data_dir / "warc" / "whirlwind.warc.gz"), "--out", str(ro / "o"),
                 "--workers", "1", "--no-progress")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], capture_output=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "EROFS" in r.stderr or "EACCES" in r.stderr, r.stderr


def test_disk_full_fails_partitions_by_name_and_leaves_no_debris(data_dir, tmp_path, dask_client):
    """A 96 KiB tmpfs fills up part-way: failed partitions name ENOSPC, no temporary file stays, and a rerun
    on a folder with room finishes with the same documents as a fresh run."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = mnt / "x"
        inputs = _inputs(data_dir, FILES)
        try:
            stats = run_stage(ExtractStage(SPLIT), inputs, str(out), client=dask_client, progress=False,
                              retries=0, keep_removed=True)
        except StageError as err:  # even stats.json did not fit: one clear error naming the errno
            assert "ENOSPC" in str(err)
        else:
            assert stats["partitions_failed"] > 0
            assert all("ENOSPC" in f["error"] for f in stats["failed_partitions"])
            assert (out / "_failed.json").exists() and not (out / "_SUCCESS").exists()
        assert not [p for p in out.rglob(".tmp-*")]
        markers = {p.stem for p in (out / "_parts").glob("*.json")}
        parts = {p.name.removeprefix("part-").removesuffix(".parquet") for p in out.glob("part-*.parquet")}
        assert parts <= markers  # no part file without its marker
        # room again: copy what is there to a real disk and finish
        roomy = tmp_path / "roomy"
        shutil.copytree(out, roomy)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    stats = run_stage(ExtractStage(SPLIT), inputs, str(roomy), client=dask_client, progress=False,
                      keep_removed=True)
    assert stats["partitions_failed"] == 0 and (roomy / "_SUCCESS").exists()
    assert _rows(roomy) == _fresh(data_dir, FILES, tmp_path / "fresh", dask_client)
