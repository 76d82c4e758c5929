"""The one Dask runner: partitions → tasks, atomic outputs, completion markers, retries, ``stats.json``.

Every step runs through :func:`run_stage` (lifecycle in :mod:`corpus_forge.stage`). Output directory
(see CONTRACT.md)::

    OUT/part-<key>.parquet          kept documents (document steps)
    OUT/removed/part-<key>.parquet  dropped documents + ``reason`` (with keep_removed)
    OUT/_parts/<key>.json           per-partition counters; written last, so it marks the partition done
    OUT/_work/                      the step's global-phase files (owned by the runner, handed to the step)
    OUT/_stage.json                 step name, configuration and inputs (a rerun must match the configuration)
    OUT/_lock                       held while a run writes the folder (a second run is refused)
    OUT/stats.json                  merged counters; documents_in == documents_out + sum(removed)
    OUT/_failed.json                failed partitions with their errors (only while some failed)
    OUT/_SUCCESS                    written last, only when every partition finished

Reruns: finished partitions are skipped. A rerun with other inputs gives exactly what a fresh run would:
partitions of inputs no longer given are removed, and for a step whose partitions depend on each other
(a global phase) a changed partition set redoes every partition.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow.compute as pc

from corpus_forge.cluster import get_client
from corpus_forge.health import systematic_failure
from corpus_forge.heap import release_freed_memory, trim_workers
from corpus_forge.io import absolute, read_json, sweep_temporary, url_to_fs, write_json_atomic, write_parquet_atomic
from corpus_forge.markers import MARKER_KEYS as MARKER_KEYS
from corpus_forge.markers import MARKERS as MARKERS
from corpus_forge.markers import MarkerSink, listed, name_of, read_finished, remove_listed
from corpus_forge.markers import marker_path as _marker_path
from corpus_forge.markers import merge_markers as merge_markers
from corpus_forge.markers import remove_partitions as _remove_partitions
from corpus_forge.progress import PartitionProgress, console
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters

WORK = "_work"


class StageError(RuntimeError):
    """The stage could not run at all (no partitions, output folder unusable, mismatched rerun)."""


def stage_fingerprint(stage: Stage) -> dict[str, Any]:
    """Name and configuration of a stage, to refuse mixing two configurations in one output dir."""
    desc = stage.config.model_dump(mode="json")
    blob = json.dumps(desc, sort_keys=True, default=str).encode()
    return {"stage": stage.name, "config": desc, "config_sha256": hashlib.sha256(blob).hexdigest()}


def partition_set_sha(partitions: list[Partition], inputs_identity: Any = None) -> str:
    """What the step reads: its partitions, plus what its options point at (e.g. a tokenizer's sha256)."""
    blob = json.dumps([sorted([p.key, p.path, p.start, p.end] for p in partitions), inputs_identity],
                      sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _identity_sha(stage: Stage, partitions: list[Partition]) -> str:
    blob = json.dumps(stage.inputs_identity(partitions), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def process_partition(stage: Stage, part: Partition, out_dir: str, keep_removed: bool, ctx: Any) -> dict:
    """Run one partition and write its outputs atomically; the marker goes last. Runs on a worker."""
    t0 = time.perf_counter()
    res: PartitionResult = stage.process(part, ctx)
    c = res.counters
    if stage.writes_documents:
        if res.kept is None:
            raise TypeError(f"{stage.name}: process() returned no table for {part.key}")
        c.documents_out = res.kept.num_rows
        if "text" in res.kept.column_names:  # for the report's funnel of bytes
            c.extra["text_bytes_out"] = int(pc.sum(pc.binary_length(res.kept.column("text"))).as_py() or 0)
    c.check(f"{stage.name} partition {part.key} ({part.path})")
    marker = {
        "key": part.key,
        "input": part.path,
        "range": [part.start, part.end],
        "seconds": round(time.perf_counter() - t0, 4),
        **c.to_dict(),
    }
    try:
        if stage.writes_documents and res.kept is not None:
            write_parquet_atomic(res.kept, os.path.join(out_dir, f"part-{part.key}.parquet"))
            if keep_removed and res.removed is not None and res.removed.num_rows:
                write_parquet_atomic(res.removed, os.path.join(out_dir, "removed", f"part-{part.key}.parquet"))
        write_json_atomic(marker, _marker_path(out_dir, part.key))
    except BaseException:
        _remove_partitions(_fs(out_dir), out_dir, {part.key})  # all of a partition's files, or none
        raise
    del res
    release_freed_memory(time.perf_counter() - t0)  # a long-lived worker's RSS stays at one partition's
    return marker


def _fs(path: str) -> Any:
    """The fsspec filesystem of an output directory (local, s3://, …)."""
    return url_to_fs(path)[0]


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError) and err.errno is not None:
        name = errno.errorcode.get(err.errno, str(err.errno))
        where = f" ({err.filename})" if err.filename else ""
        return f"{name}: {err.strerror or err}{where}"
    return f"{type(err).__name__}: {err}"


def _make_out_dir(fs: Any, out_dir: str) -> None:
    """Create the folder or fail before any work, naming the path and the errno (exit 2)."""
    try:
        if fs.exists(out_dir) and not fs.isdir(out_dir):
            raise StageError(f"--out {out_dir} is a file, not a folder")
        fs.makedirs(out_dir, exist_ok=True)
        if "://" in out_dir and not out_dir.startswith("file://"):  # a local folder is probed by OUT/_lock
            probe = os.path.join(out_dir, f".probe-{uuid.uuid4().hex}")
            fs.touch(probe)
            fs.rm(probe)
    except OSError as err:
        raise StageError(f"cannot write to --out {out_dir}: {_describe(err)}") from None


@contextlib.contextmanager
def _lock(out_dir: str) -> Iterator[None]:
    """Hold ``OUT/_lock`` for the run: a second run into the same folder is refused, not interleaved."""
    if "://" in out_dir and not out_dir.startswith("file://"):
        yield  # object stores have no locks; the configuration check still refuses a mismatch
        return
    import fcntl

    path = os.path.join(out_dir, "_lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # also the check that the folder is writable
    except OSError as err:
        raise StageError(f"cannot write to --out {out_dir}: {_describe(err)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise StageError(f"{out_dir} is being written by another corpus-forge run ({holder}); "
                             "wait for it or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _check_fingerprint(fs: Any, out_dir: str, fp: dict[str, Any]) -> dict[str, Any] | None:
    """Refuse a folder holding another step or configuration; return the previous ``_stage.json``."""
    path = os.path.join(out_dir, "_stage.json")
    if not fs.exists(path):
        return None
    old = read_json(path)
    if old.get("stage") != fp["stage"] or old.get("config_sha256") != fp["config_sha256"]:
        raise StageError(
            f"{out_dir} holds output of a different run ({old.get('stage')}, other configuration); "
            "use a new --out directory or delete it"
        )
    return old


def _reconcile(stage: Stage, fs: Any, out_dir: str, partitions: list[Partition], old: dict[str, Any] | None,
               inputs_sha: str) -> int:
    """Make the folder hold only partitions of the current inputs; return how many were dropped or reset.

    Stale partitions (inputs no longer given) are removed. If the step's partitions depend on each other
    and the partition set changed, every partition is redone (and the work folder cleared). Three listings,
    whatever the number of partitions.
    """
    markers = listed(fs, os.path.join(out_dir, MARKERS, "*.json"))
    files = listed(fs, os.path.join(out_dir, "part-*.parquet"))
    removed = listed(fs, os.path.join(out_dir, "removed", "part-*.parquet"))
    done = {name_of(p, "", ".json") for p in markers}
    current = {p.key for p in partitions}
    stale = done - current
    identity = _identity_sha(stage, partitions)
    changed_set = old is not None and old.get("partitions_sha256") not in (None, inputs_sha)
    changed_identity = old is not None and old.get("identity_sha256", identity) != identity
    if changed_identity or (changed_set and not stage.independent_partitions()):
        stale = done
        work = os.path.join(out_dir, WORK)
        if fs.exists(work):
            fs.rm(work, recursive=True)
    # document files without a marker belong to no finished partition
    parts = {name_of(p, "part-", ".parquet") for p in files | removed}
    remove_listed(fs, out_dir, stale | (parts - current), markers | files | removed)
    return len(stale)


#: tasks in flight per worker thread (a window, so the scheduler never holds all P tasks at once)
IN_FLIGHT_PER_THREAD = 8


def _window(client: Any) -> int:
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # a client that cannot say: a modest window
        threads = 4
    return max(32, IN_FLIGHT_PER_THREAD * threads)


def run_partitions(
    stage: Stage,
    partitions: list[Partition],
    run: RunContext,
    *,
    retries: int = 2,
    on_done: Callable[[int, int], None] | None = None,
    sink: MarkerSink | None = None,
) -> tuple[list[dict], list[dict[str, str]]]:
    """Submit the unfinished partitions to ``run.client``, a bounded window at a time; fold their markers
    into ``sink`` as they arrive. Returns (markers' scalars, failures)."""
    from distributed import as_completed

    client, out_dir = run.client, run.out_dir
    sink = sink if sink is not None else MarkerSink(partitions, stage.marker_fields)
    todo = read_finished(_fs(out_dir), out_dir, partitions, sink)
    failed: list[dict[str, str]] = []
    done = len(sink.markers)
    if on_done:
        on_done(done, len(partitions))
    if not todo:
        return sink.markers, failed
    _quiet_failures(client)
    ctx = stage.prepare(partitions, run)
    # a list, so a dict ctx is shipped whole (scattering a dict would name each value globally)
    ctx_f = client.scatter([ctx], broadcast=True, hash=False)[0] if ctx is not None else None
    by_future: dict[Any, Partition] = {}
    pending = iter(todo)

    def submit(p: Partition) -> Any:
        fut = client.submit(
            process_partition, stage, p, out_dir, run.keep_removed, ctx_f,
            key=f"{stage.name}-{p.key}-{os.urandom(4).hex()}", retries=retries, pure=False,
            resources=stage.resources(p, ctx),
        )
        by_future[fut] = p
        return fut

    queue = as_completed([submit(p) for p in itertools.islice(pending, _window(client))])
    for fut in queue:
        p = by_future.pop(fut)
        try:
            sink.add(fut.result())
        except Exception as err:
            failed.append({"key": p.key, "input": p.path, "error": _describe(err),
                           "traceback": "".join(traceback.format_exception(err))[-2000:]})
        nxt = next(pending, None)
        if nxt is not None:
            queue.add(submit(nxt))
        done += 1
        if on_done:
            on_done(done, len(partitions))
    return sink.markers, failed


class _NoComputeFailed:
    """Drop Dask's "Compute Failed" log block: the runner reports each failed partition itself."""

    def filter(self, record: Any) -> bool:
        return not str(record.msg).startswith("Compute Failed")


def _install_quiet() -> None:
    import logging

    logging.getLogger("distributed.worker").addFilter(_NoComputeFailed())


def _quiet_failures(client: Any) -> None:
    """On our own LocalCluster (not a user's cluster, whose logs are theirs) unless --debug."""
    from distributed import LocalCluster

    if os.environ.get("CORPUS_FORGE_DEBUG") or not isinstance(getattr(client, "cluster", None), LocalCluster):
        return
    if not getattr(client, "_corpus_forge_quiet", False):
        client.run(_install_quiet)
        client._corpus_forge_quiet = True


@contextlib.contextmanager
def _client(client: Any, scheduler: str | None, workers: int | None, progress: bool) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    with get_client(scheduler, workers, quiet=not progress) as c:
        yield c


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
    only when all are done and the global phase after the map succeeded; failures are listed under
    ``failed_partitions`` (and ``failed_phase``).
    """
    t0 = time.perf_counter()
    out_dir = absolute(out_dir)
    partitions = _partitions(stage, inputs)
    fs = _fs(out_dir)
    _make_out_dir(fs, out_dir)
    with _lock(out_dir):
        fp = stage_fingerprint(stage)
        old = _check_fingerprint(fs, out_dir, fp)
        stats_path = os.path.join(out_dir, "stats.json")
        inputs_sha = partition_set_sha(partitions, stage.inputs_identity(partitions))
        if old is not None and old.get("partitions_sha256") == inputs_sha \
                and fs.exists(os.path.join(out_dir, "_SUCCESS")) and fs.exists(stats_path):
            done = read_json(stats_path)  # complete, same configuration and inputs: nothing to do
            if progress:
                console.print(f"[bold]{stage.name}[/]: already complete in {out_dir}")
            return done
        sweep_temporary(fs, out_dir)
        reset = _reconcile(stage, fs, out_dir, partitions, old, inputs_sha)
        write_json_atomic({**fp, "partitions_sha256": inputs_sha, "identity_sha256": _identity_sha(stage, partitions),
                           "inputs": sorted({p.path for p in partitions})}, os.path.join(out_dir, "_stage.json"))
        for name in ("_SUCCESS", "_failed.json"):
            if fs.exists(os.path.join(out_dir, name)):
                fs.rm(os.path.join(out_dir, name))
        work_dir = os.path.join(out_dir, WORK)
        fs.makedirs(work_dir, exist_ok=True)
        failed_phase: dict[str, str] | None = None
        extra: dict[str, Any] = {}
        with _client(client, scheduler, workers, progress) as c:
            run = RunContext(out_dir, work_dir, c, keep_removed, progress)
            with PartitionProgress(stage.name, enabled=progress) as bar:
                sink = MarkerSink(partitions, stage.marker_fields)
                try:
                    markers, failed = run_partitions(stage, partitions, run, retries=retries, on_done=bar.update,
                                                     sink=sink)
                except (OSError, RuntimeError, ValueError) as err:  # the global phase before the map failed
                    markers, failed = [], []
                    failed_phase = {"phase": "prepare", "error": _describe(err)}
                    sink = MarkerSink(partitions, stage.marker_fields)
            total = sink.fold.result()
            total.check(stage.name)
            if not failed and failed_phase is None:
                try:
                    extra = stage.finalize(run, total, markers)
                except (OSError, RuntimeError, ValueError) as err:
                    failed_phase = {"phase": "finalize", "error": _describe(err),
                                    "traceback": "".join(traceback.format_exception(err))[-2000:]}
            trim_workers(c)  # the next step starts from what the workers hold, not from freed heap
        stats = _stats(stage, total, extra, len(partitions), markers, failed, failed_phase, reset)
        problem = stats.get("systematic_failure")
        stats["seconds"] = round(time.perf_counter() - t0, 3)
        try:
            write_json_atomic(stats, os.path.join(out_dir, "stats.json"))
            if failed or failed_phase:
                write_json_atomic(failed + ([failed_phase] if failed_phase else []),
                                  os.path.join(out_dir, "_failed.json"))
            elif not problem:
                fs.touch(os.path.join(out_dir, "_SUCCESS"))
        except OSError as err:
            raise StageError(f"{stage.name}: could not write the results to {out_dir}: {_describe(err)}") from None
    return stats


def _partitions(stage: Stage, inputs: list[str]) -> list[Partition]:
    """The step's checks, then its partitions: some, with distinct keys."""
    stage.check()
    partitions = stage.partitions(inputs)
    if not partitions:
        raise StageError(f"{stage.name}: no partitions to process in {inputs}")
    seen: set[str] = set()
    dup = sorted({p.key for p in partitions if p.key in seen or seen.add(p.key)})[:3]  # type: ignore[func-returns-value]
    if dup:
        raise StageError(f"{stage.name}: duplicate partition keys {dup}")
    return partitions


def _stats(stage: Stage, total: Counters, extra: dict[str, Any], n_partitions: int, markers: list[dict],
           failed: list[dict[str, str]], failed_phase: dict[str, str] | None, reset: int) -> dict[str, Any]:
    """The ``stats.json`` of a run (all but ``seconds``)."""
    if failed:
        total.error("partition_failed", len(failed))
    stats: dict[str, Any] = {"stage": stage.name, **total.to_dict(with_kinds=False), **extra}
    stats["writes_documents"] = stage.writes_documents  # the report's funnel shows the steps that do
    stats["partitions"] = n_partitions
    stats["partitions_done"] = len(markers)
    stats["partitions_failed"] = len(failed)
    stats["failed_partitions"] = [{k: v for k, v in f.items() if k != "traceback"} for f in failed]
    if reset:
        stats["partitions_reset"] = reset
    if failed_phase:
        stats["failed_phase"] = {k: v for k, v in failed_phase.items() if k != "traceback"}
    problem = _systematic_failure(stage, stats)
    if problem:
        stats["systematic_failure"] = problem
    stats["partition_seconds"] = round(sum(float(m.get("seconds", 0)) for m in markers), 3)
    return stats


def _systematic_failure(stage: Stage, stats: dict[str, Any]) -> str | None:
    """A message when one error-class reason took (nearly) every record: that must not pass as success."""
    share = float(getattr(stage.config, "max_error_share", 1.0))
    return systematic_failure(stats, set(stage.error_reasons), share)


def stage_failed(stats: dict[str, Any]) -> str | None:
    """Why a stage's result is not a success (None when it is)."""
    if stats.get("systematic_failure"):
        return str(stats["systematic_failure"])
    if stats.get("failed_phase"):
        fp = stats["failed_phase"]
        return f"{fp['phase']} failed: {fp['error']}"
    if stats.get("partitions_failed"):
        return f"{stats['partitions_failed']} partition(s) failed"
    return None
