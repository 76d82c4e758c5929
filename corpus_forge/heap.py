"""Give a worker's freed heap back to the OS after a long task (glibc ``malloc_trim``; elsewhere a no-op).

lxml/libxml2 and Arrow free what one partition allocates, but glibc (and Arrow's mimalloc pool) keep the freed
pages, so a long-lived worker's RSS creeps up with every page it has parsed and carries that into the next
step. Measured on extract over the 16x scale input in one process (bench/scale.py's pages): RSS after each
partition 165 -> 196 MB over 16 partitions without a trim, 158 -> 172 MB with one; the Python heap
(tracemalloc) stays at 37 MB throughout, so the growth is freed C memory, not objects we keep.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import sys
from typing import Any

TRIM_AFTER_SECONDS = 0.2  # a trim costs ~2 ms: only after tasks long enough for that not to show
STEP_TRIMS = [0]  # how many times this process was trimmed at the end of a step (trim_workers)


@functools.cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if hasattr(libc, "malloc_trim"):  # glibc only (musl has none)
            return libc
    return None


def release_freed_memory(task_seconds: float | None = None) -> bool:
    """When the task took at least ``TRIM_AFTER_SECONDS`` (always for ``None``): Arrow's pool gives back what
    it holds unused (mimalloc keeps freed pages too) and glibc ``malloc_trim(0)``; return whether it ran."""
    if task_seconds is not None and task_seconds < TRIM_AFTER_SECONDS:
        return False
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        with contextlib.suppress(Exception):
            arrow.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    return True


def _collect_and_release() -> bool:
    gc.collect()
    STEP_TRIMS[0] += 1
    return release_freed_memory()


def trim_workers(client: Any) -> None:
    """At the end of a step, every worker collects garbage and hands its freed heap back (Dask's own remedy
    for "memory not released back to the OS"): the Dask DataFrame tasks of dedup's shuffle, and other tasks
    not run through :func:`corpus_forge.runner.process_partition`, leave freed pages the next step would
    start from. Measured at bench/scale.py's 16x (quality after dedup and decontaminate on the same workers):
    RSS after dedup ~400 -> 351 MB, the quality step's peak 412 -> 390 MB. One call per worker per step;
    a worker that cannot answer is left alone."""
    with contextlib.suppress(Exception):
        client.run(_collect_and_release, on_error="return")
