"""The Dask runner on a real LocalCluster (2 workers): outputs, stats, reruns, failures."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from corpus_forge.runner import StageError, run_stage
from pipelines.extract import ExtractConfig, ExtractStage

FILES = ["warcfile.warc.gz", "sample-0001.warc.gz", "whirlwind.warc.gz", "clipped.warc.gz"]


def _inputs(data_dir):
    return [str(data_dir / "warc" / f) for f in FILES]


def _read_ids(out):
    return sorted(i for f in sorted(out.glob("part-*.parquet")) for i in pq.read_table(f).column("id").to_pylist())


def test_stage_on_localcluster_writes_contract_outputs(data_dir, tmp_path, dask_client):
    out = tmp_path / "extract"
    stats = run_stage(ExtractStage(), _inputs(data_dir), str(out), client=dask_client,
                      keep_removed=True, progress=False)
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk == json.loads(json.dumps(stats))
    # 50 + 34 + 4 + 1 records (see test_extract_real_warcs for each file's breakdown)
    assert stats["documents_in"] == 89
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["removed"].values())
    assert stats["documents_out"] == 16 + 15 + 1
    assert (out / "_SUCCESS").exists()
    assert len(list(out.glob("part-*.parquet"))) == 4 and stats["partitions_done"] == 4
    (warcfile_part,) = out.glob("part-warcfile.warc.gz-*.parquet")  # keys name the file, not its position
    kept = pq.read_table(warcfile_part)
    assert kept.schema.field("id").type == "string" and kept.num_rows == 16
    removed = [pq.read_table(f) for f in (out / "removed").glob("part-*.parquet")]
    assert sum(t.num_rows for t in removed) == sum(stats["removed"].values())
    assert {r for t in removed for r in t.column("reason").to_pylist()} == set(stats["removed"])


def test_rerun_skips_finished_partitions_and_gives_same_documents(data_dir, tmp_path, dask_client):
    out = tmp_path / "extract"
    run_stage(ExtractStage(), _inputs(data_dir), str(out), client=dask_client, progress=False)
    first = _read_ids(out)
    mtimes = {f.name: f.stat().st_mtime_ns for f in out.glob("part-*.parquet")}
    # lose one partition's output and marker, as if a worker died before writing it
    (victim_file,) = out.glob("part-sample-0001.warc.gz-*.parquet")
    victim = victim_file.name.removeprefix("part-").removesuffix(".parquet")
    (out / f"part-{victim}.parquet").unlink()
    (out / "_parts" / f"{victim}.json").unlink()
    (out / "_SUCCESS").unlink()
    stats = run_stage(ExtractStage(), _inputs(data_dir), str(out), client=dask_client, progress=False)
    assert _read_ids(out) == first
    again = {f.name: f.stat().st_mtime_ns for f in out.glob("part-*.parquet")}
    changed = {n for n in again if again[n] != mtimes.get(n)}
    assert changed == {f"part-{victim}.parquet"}
    assert stats["documents_in"] == 89 and (out / "_SUCCESS").exists()


def test_one_failing_partition_is_named_while_others_finish(data_dir, tmp_path, dask_client):
    bad = tmp_path / "broken.warc"
    bad.write_bytes(b"<html>this is not an archive</html>\n" * 100)
    out = tmp_path / "extract"
    stats = run_stage(ExtractStage(), [*_inputs(data_dir), str(bad)], str(out), client=dask_client,
                      progress=False, retries=1)
    assert stats["partitions_failed"] == 1 and stats["partitions_done"] == 4
    (failed,) = stats["failed_partitions"]
    assert failed["input"].endswith("broken.warc") and "not a WARC" in failed["error"]
    assert stats["errors"] == {"partition_failed": 1}
    assert stats["documents_in"] == 89  # the four good files are all accounted for
    assert not (out / "_SUCCESS").exists()
    # fixing the input and rerunning finishes the job
    bad.unlink()
    shutil.copy(data_dir / "warc" / "whirlwind.warc.wet.gz", bad)
    stats = run_stage(ExtractStage(), [*_inputs(data_dir), str(bad)], str(out), client=dask_client,
                      progress=False)
    assert stats["partitions_failed"] == 0 and (out / "_SUCCESS").exists()
    assert stats["documents_in"] == 89 + 2


def test_split_file_runs_as_several_tasks_with_the_same_result(data_dir, tmp_path, dask_client):
    inputs = [str(data_dir / "warc" / "warcfile.warc.gz")]
    whole = run_stage(ExtractStage(), inputs, str(tmp_path / "a"), client=dask_client, progress=False)
    split = run_stage(ExtractStage(ExtractConfig(split_bytes=30_000)), inputs, str(tmp_path / "b"),
                      client=dask_client, progress=False)
    assert whole["partitions"] == 1 and split["partitions"] >= 4
    assert _read_ids(tmp_path / "a") == _read_ids(tmp_path / "b")
    assert whole["removed"] == split["removed"] and whole["documents_in"] == split["documents_in"]


def test_other_configuration_in_same_output_dir_is_refused(data_dir, tmp_path, dask_client):
    inputs = [str(data_dir / "warc" / "whirlwind.warc.gz")]
    run_stage(ExtractStage(), inputs, str(tmp_path), client=dask_client, progress=False)
    with pytest.raises(StageError, match="different run"):
        run_stage(ExtractStage(ExtractConfig(time_limit=1)), inputs, str(tmp_path), client=dask_client,
                  progress=False)


def test_embedded_localcluster_path(data_dir, tmp_path):
    """No client given: the runner starts (and stops) its own LocalCluster, as the CLI does."""
    out = tmp_path / "o"
    stats = run_stage(ExtractStage(), [str(data_dir / "warc" / "whirlwind.warc.wet.gz")], str(out),
                      workers=1, progress=False)
    assert stats["documents_out"] == 1 and os.path.exists(out / "_SUCCESS")


def test_workers_get_the_cluster_settings_and_dask_yaml_matches(dask_client):
    """The LocalCluster's workers run with corpus_forge.cluster.CLUSTER_CONFIG (no MALLOC_TRIM_THRESHOLD_,
    no profiler, a slower tick), and corpus_forge/dask.yaml, for cluster workers, says the same."""
    import time

    import dask
    import yaml

    from corpus_forge.cluster import CLUSTER_CONFIG

    def settings() -> tuple[str | None, bool, str]:
        return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.admin.tick.interval"))

    assert set(dask_client.run(settings).values()) == {(None, False, "1s")}
    dask_client.submit(time.sleep, 1.5, pure=False).result()  # a profiler would have sampled it into its history
    assert set(dask_client.run(lambda dask_worker: len(dask_worker.profile_history)).values()) == {0}
    shipped = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "../../corpus_forge/dask.yaml")))
    for key, value in CLUSTER_CONFIG.items():
        node = shipped
        for part in key.split("."):
            assert part in node, key
            node = node[part]
        assert node == value, key
