"""The one Dask runner: partitions → tasks, atomic outputs, completion markers, retries, ``stats.json``.

Output directory (see CONTRACT.md)::

    OUT/part-<key>.parquet          kept documents
    OUT/removed/part-<key>.parquet  dropped documents + ``reason`` (with keep_removed)
    OUT/_parts/<key>.json           per-partition counters; written last, so it marks the partition done
    OUT/_stage.json                 stage name and configuration (a rerun must match it)
    OUT/stats.json                  merged counters; documents_in == documents_out + sum(removed)
    OUT/_SUCCESS                    written last, only when every partition finished
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from corpus_forge.io import read_json, write_json_atomic, write_parquet_atomic
from corpus_forge.stage import Partition, PartitionResult, Stage
from corpus_forge.stats import Counters

MARKERS = "_parts"


class StageError(RuntimeError):
    """The stage could not run at all (no partitions, every partition failed, mismatched rerun)."""


def stage_fingerprint(stage: Stage) -> dict[str, Any]:
    """Name and configuration of a stage, to refuse mixing two configurations in one output dir."""
    cfg = getattr(stage, "config", None)
    if cfg is not None and hasattr(cfg, "model_dump"):
        desc = cfg.model_dump(mode="json")
    else:
        desc = {"repr": repr(stage)}
    blob = json.dumps(desc, sort_keys=True, default=str).encode()
    return {"stage": stage.name, "config": desc, "config_sha256": hashlib.sha256(blob).hexdigest()}


def process_partition(stage: Stage, part: Partition, out_dir: str, keep_removed: bool, ctx: Any) -> dict:
    """Run one partition and write its outputs atomically; the marker goes last. Runs on a worker."""
    t0 = time.perf_counter()
    res: PartitionResult = stage.process(part, ctx)
    c = res.counters
    c.documents_out = res.kept.num_rows
    c.check(f"{stage.name} partition {part.key} ({part.path})")
    write_parquet_atomic(res.kept, os.path.join(out_dir, f"part-{part.key}.parquet"))
    if keep_removed and res.removed is not None and res.removed.num_rows:
        write_parquet_atomic(res.removed, os.path.join(out_dir, "removed", f"part-{part.key}.parquet"))
    marker = {
        "key": part.key,
        "input": part.path,
        "range": [part.start, part.end],
        "seconds": round(time.perf_counter() - t0, 4),
        **c.to_dict(),
    }
    write_json_atomic(marker, os.path.join(out_dir, MARKERS, f"{part.key}.json"))
    return marker


def _marker_path(out_dir: str, key: str) -> str:
    return os.path.join(out_dir, MARKERS, f"{key}.json")


def _fs(path: str) -> Any:
    """The fsspec filesystem of an output directory (local, s3://, …)."""
    import fsspec

    return fsspec.core.url_to_fs(path)[0]


def _check_fingerprint(out_dir: str, fp: dict[str, Any]) -> None:
    path = os.path.join(out_dir, "_stage.json")
    if _fs(out_dir).exists(path):
        old = read_json(path)
        if old.get("stage") != fp["stage"] or old.get("config_sha256") != fp["config_sha256"]:
            raise StageError(
                f"{out_dir} holds output of a different run ({old.get('stage')}, other configuration); "
                "use a new --out directory or delete it"
            )
    else:
        write_json_atomic(fp, path)


def run_partitions(
    stage: Stage,
    partitions: list[Partition],
    out_dir: str,
    *,
    client: Any,
    keep_removed: bool = False,
    retries: int = 2,
    on_done: Callable[[int, int], None] | None = None,
) -> tuple[list[dict], list[dict[str, str]]]:
    """Submit the unfinished partitions to ``client``; return (markers, failures)."""
    from distributed import as_completed

    markers: list[dict] = []
    todo: list[Partition] = []
    fs = _fs(out_dir)
    for p in partitions:
        mp = _marker_path(out_dir, p.key)
        if fs.exists(mp):
            markers.append(read_json(mp))
        else:
            todo.append(p)
    failed: list[dict[str, str]] = []
    done = len(markers)
    if on_done:
        on_done(done, len(partitions))
    if not todo:
        return markers, failed
    ctx = stage.prepare(partitions)
    # a list, so a dict ctx is shipped whole (scattering a dict would name each value globally)
    ctx_f = client.scatter([ctx], broadcast=True, hash=False)[0] if ctx is not None else None
    by_future = {}
    for p in todo:
        fut = client.submit(
            process_partition, stage, p, out_dir, keep_removed, ctx_f,
            key=f"{stage.name}-{p.key}-{os.urandom(4).hex()}", retries=retries, pure=False,
        )
        by_future[fut] = p
    for fut in as_completed(list(by_future)):
        p = by_future[fut]
        try:
            markers.append(fut.result())
        except Exception as err:
            failed.append({"key": p.key, "input": p.path, "error": f"{type(err).__name__}: {err}",
                           "traceback": "".join(traceback.format_exception(err))[-2000:]})
        done += 1
        if on_done:
            on_done(done, len(partitions))
    return markers, failed


def merge_markers(markers: list[dict]) -> Counters:
    total = Counters()
    for m in markers:
        m = {k: v for k, v in m.items() if k not in ("key", "input", "range", "seconds")}
        total = total.merge(Counters.from_dict(m))
    return total


def run_stage(
    stage: Stage,
    inputs: list[str],
    out_dir: str,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    keep_removed: bool = False,
    progress: bool = True,
    client: Any = None,
    retries: int = 2,
) -> dict[str, Any]:
    """Run ``stage`` over ``inputs`` into ``out_dir`` on Dask and write ``stats.json``.

    Returns the stats written. Reruns skip partitions whose marker exists; ``_SUCCESS`` is written
    only when all are done; failed partitions are listed under ``failed_partitions``.
    """
    from corpus_forge.cluster import get_client
    from corpus_forge.progress import PartitionProgress

    t0 = time.perf_counter()
    out_dir = os.path.abspath(out_dir) if "://" not in out_dir else out_dir
    partitions = stage.partitions(inputs)
    if not partitions:
        raise StageError(f"{stage.name}: no partitions to process in {inputs}")
    keys = [p.key for p in partitions]
    if len(set(keys)) != len(keys):
        raise StageError(f"{stage.name}: duplicate partition keys")
    fs = _fs(out_dir)
    fs.makedirs(out_dir, exist_ok=True)
    _check_fingerprint(out_dir, stage_fingerprint(stage))
    success = os.path.join(out_dir, "_SUCCESS")
    if fs.exists(success):
        fs.rm(success)

    with PartitionProgress(stage.name, enabled=progress) as bar:
        if client is not None:
            markers, failed = run_partitions(stage, partitions, out_dir, client=client,
                                             keep_removed=keep_removed, retries=retries, on_done=bar.update)
        else:
            with get_client(scheduler, workers, quiet=not progress) as c:
                markers, failed = run_partitions(stage, partitions, out_dir, client=c,
                                                 keep_removed=keep_removed, retries=retries,
                                                 on_done=bar.update)
    total = merge_markers(markers)
    total.check(stage.name)
    if failed:
        total.error("partition_failed", len(failed))
    stats: dict[str, Any] = {"stage": stage.name, **total.to_dict()}
    stats.update(stage.finalize(out_dir, total))
    stats["partitions"] = len(partitions)
    stats["partitions_done"] = len(markers)
    stats["partitions_failed"] = len(failed)
    stats["failed_partitions"] = [{k: v for k, v in f.items() if k != "traceback"} for f in failed]
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    stats["partition_seconds"] = round(sum(float(m.get("seconds", 0)) for m in markers), 3)
    write_json_atomic(stats, os.path.join(out_dir, "stats.json"))
    if failed:
        write_json_atomic(failed, os.path.join(out_dir, "_failed.json"))
    else:
        fail_log = os.path.join(out_dir, "_failed.json")
        if fs.exists(fail_log):
            fs.rm(fail_log)
        fs.touch(success)
    return stats
