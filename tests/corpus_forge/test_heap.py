"""corpus_forge.heap: a worker gives the heap a task freed back to the OS."""

from __future__ import annotations

import subprocess
import sys

import pytest

from corpus_forge.heap import TRIM_AFTER_SECONDS, _libc, release_freed_memory

# Fragments glibc's heap the way a parsed page does (many malloc'd blocks, a few kept between the rest), then
# prints RSS in MB before and after the release.
FRAGMENT = """
import gc, psutil
from corpus_forge.heap import release_freed_memory
me = psutil.Process()
blocks = [bytes(1000) + bytes([i % 256]) for i in range(200_000)]
kept = blocks[::100]
del blocks; gc.collect()
before = me.memory_info().rss
assert release_freed_memory()
print(before >> 20, me.memory_info().rss >> 20)
"""


@pytest.mark.skipif(_libc() is None, reason="glibc malloc_trim only")
def test_freed_heap_goes_back_to_the_os() -> None:
    got = subprocess.run([sys.executable, "-c", FRAGMENT], capture_output=True, text=True, check=True)
    before, after = map(int, got.stdout.split())
    assert before > 150  # ~200 MB of blocks were allocated and freed, 1% kept in between
    assert after < before - 100


def test_short_tasks_are_not_charged_a_trim() -> None:
    assert release_freed_memory(TRIM_AFTER_SECONDS / 10) is False
    assert release_freed_memory(TRIM_AFTER_SECONDS) is True
    assert release_freed_memory() is True


def test_every_worker_is_trimmed_once_at_the_end_of_a_step(tmp_path, dask_client):
    from tiny_parts import write_tiny_partitions

    from corpus_forge.runner import run_stage
    from pipelines.filter import FilterConfig, FilterStage

    def trims() -> int:
        from corpus_forge import heap

        return heap.STEP_TRIMS[0]

    write_tiny_partitions(str(tmp_path / "in"), 4)
    before = dask_client.run(trims)
    run_stage(FilterStage(FilterConfig(filters=[{"type": "gopher_quality"}])), [str(tmp_path / "in")],
              str(tmp_path / "out"), client=dask_client, progress=False)
    after = dask_client.run(trims)
    assert set(after) == set(before) and len(after) == 2
    assert {w: after[w] - before[w] for w in after} == {w: 1 for w in after}
