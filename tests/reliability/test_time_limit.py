"""The per-page time limit cannot be lost: a page that runs past it is counted ``timeout`` and kept nowhere,
every time, even when the interruption lands in a gc callback that swallows it (issue #14, item 5)."""

from __future__ import annotations

import gc
import sys
import time

import pytest

from corpus_forge import timeout
from pipelines.extract import ExtractConfig, ExtractStage

LIMIT = 0.05
SLOW = 1.0  # seconds a slow page would take: 20x the limit


def _slow_extract(self, html: str, url: str | None) -> str:
    """A page that runs far past the limit in Python code (as trafilatura does on a huge page)."""
    end = time.monotonic() + SLOW
    while time.monotonic() < end:
        time.sleep(0.002)
    _ran_to_end.append(url)
    return "a document that must not be kept: " + html[:100]


def _gc_then_slow(self, html: str, url: str | None) -> str:
    """Like :func:`_slow_extract`, but the collector runs first: its callbacks take longer than the limit,
    so the interruption is raised inside a callback, where the collector swallows it
    ("Exception ignored in: gc callback"), as Dask's GC callback did."""
    _armed[0] = True
    gc.collect()
    return _slow_extract(self, html, url)


_armed = [False]  # the next collection's callback runs long (once)
_ran_to_end: list[str | None] = []  # pages whose slow extraction finished (the limit did not cut them)


def _busy_gc_callback(phase: str, info: dict) -> None:
    if phase == "start" and _armed[0]:
        _armed[0] = False
        end = time.monotonic() + 3 * LIMIT
        while time.monotonic() < end:  # pure Python: the async exception is delivered here
            pass


@pytest.fixture
def swallowing_gc_callback():
    gc.callbacks.append(_busy_gc_callback)
    try:
        yield
    finally:
        gc.callbacks.remove(_busy_gc_callback)


def _run(data_dir, monkeypatch, extract):
    monkeypatch.setattr(ExtractStage, "_extract_text", extract)
    stage = ExtractStage(ExtractConfig(time_limit=LIMIT))
    (part,) = stage.partitions([str(data_dir / "warc" / "warcfile.warc.gz")])
    res = stage.process(part)
    return res


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed raise
@pytest.mark.parametrize("extract", [_slow_extract, _gc_then_slow], ids=["slow", "gc-callback-swallows"])
def test_slow_pages_are_counted_timeout_and_never_kept(data_dir, monkeypatch, swallowing_gc_callback, extract):
    # The swallowed raise goes to sys.unraisablehook. pytest's own hook formats a traceback (stat calls, slow
    # on a loaded machine), and a later watchdog tick can land inside it, which pytest reports as "Failed to
    # process unraisable exception": a hook with almost no bytecode records them instead.
    swallowed: list[type] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_type))
    _ran_to_end.clear()
    res = _run(data_dir, monkeypatch, extract)
    # warcfile.warc.gz: 16 HTML pages, 34 other records; every page ran past the limit
    assert res.kept.num_rows == 0
    assert dict(res.counters.removed) == {"not_response": 34, "timeout": 16}
    assert _ran_to_end == []  # each page was cut where it was, not run to its end and then discarded
    if extract is _gc_then_slow:  # the interruption did land in the callback and was swallowed there
        assert timeout.TimeLimitExceeded in swallowed


def test_result_returned_after_the_deadline_is_discarded():
    """A call that overran inside C code (no bytecode to interrupt) and then returned: it is a timeout."""
    with pytest.raises(timeout.TimeLimitExceeded):
        timeout.call_with_time_limit(0.05, time.sleep, 0.3)


def test_interrupted_call_leaves_nothing_pending():
    def spin() -> None:
        while True:
            pass

    for _ in range(5):
        with pytest.raises(timeout.TimeLimitExceeded):
            timeout.call_with_time_limit(0.05, spin)
        # nothing raised later, outside the guarded call
        end = time.monotonic() + 0.1
        n = 0
        while time.monotonic() < end:
            n += 1
    assert timeout.call_with_time_limit(1, sum, range(10)) == 45
    assert timeout.call_with_time_limit(0, sum, range(10)) == 45  # 0 = no limit
