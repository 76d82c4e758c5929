"""A per-call time limit that works in any thread (Dask runs tasks in worker threads, not main).

A single watchdog thread raises :class:`TimeLimitExceeded` inside the thread that overran, via
``PyThreadState_SetAsyncExc``. Pure-Python work (trafilatura's tree walking) is interrupted at the next
bytecode; a long call inside C (one lxml parse) is interrupted when it returns, which is why the extract
stage also caps page size.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Iterator


class TimeLimitExceeded(Exception):
    """The guarded block ran longer than its limit."""


_lock = threading.Lock()
_deadlines: dict[int, tuple[float, list[bool]]] = {}
_watchdog: threading.Thread | None = None
_TICK = 0.02


def _set_async_exc(tid: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc) if exc else None)


def _watch() -> None:
    while True:
        time.sleep(_TICK)
        now = time.monotonic()
        with _lock:
            for tid, (deadline, fired) in list(_deadlines.items()):
                if now >= deadline and not fired[0]:
                    fired[0] = True
                    _set_async_exc(tid, TimeLimitExceeded)


def _ensure_watchdog() -> None:
    global _watchdog
    if _watchdog is None or not _watchdog.is_alive():
        _watchdog = threading.Thread(target=_watch, name="corpus-forge-time-limit", daemon=True)
        _watchdog.start()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in this thread if the block runs longer than ``seconds``."""
    if not seconds or seconds <= 0:
        yield
        return
    tid = threading.get_ident()
    fired = [False]
    with _lock:
        _ensure_watchdog()
        _deadlines[tid] = (time.monotonic() + seconds, fired)
    try:
        yield
    finally:
        with _lock:
            _deadlines.pop(tid, None)
            if fired[0]:
                # the exception may still be pending (not yet delivered): clear it so it cannot
                # surface later, outside the guarded block.
                _set_async_exc(tid, None)
