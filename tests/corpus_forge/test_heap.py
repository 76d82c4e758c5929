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
