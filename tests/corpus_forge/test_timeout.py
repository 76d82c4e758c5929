"""The per-page time limit interrupts pure-Python work in any thread (Dask runs tasks off the main one)."""

from __future__ import annotations

import threading

import pytest

from corpus_forge.timeout import TimeLimitExceeded, time_limit


def _spin():
    n = 0
    while True:
        n += 1


def test_interrupts_a_runaway_loop():
    with pytest.raises(TimeLimitExceeded), time_limit(0.2):
        _spin()


def test_works_in_a_worker_thread_and_leaves_no_pending_exception():
    result = {}

    def work():
        try:
            with time_limit(0.2):
                _spin()
        except TimeLimitExceeded:
            result["interrupted"] = True
        with time_limit(5):
            result["after"] = sum(range(1000))

    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert result == {"interrupted": True, "after": 499500}


def test_fast_block_is_untouched():
    with time_limit(1):
        x = sum(range(100))
    assert x == 4950
