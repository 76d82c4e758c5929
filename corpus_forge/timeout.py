"""A per-call time limit that works in any thread (Dask runs tasks in worker threads, not main) and cannot be lost.

A single watchdog thread raises :class:`TimeLimitExceeded` inside the thread that overran, via
``PyThreadState_SetAsyncExc``. Pure-Python work (trafilatura's tree walking) is interrupted at the next
bytecode; a long call inside C (one lxml parse) is interrupted when it returns, which is why the extract
stage also caps page size.

An asynchronous exception can be swallowed: if it lands in a gc callback (Dask registers one) or in a
``__del__``, Python prints "Exception ignored in ..." and carries on. :func:`call_with_time_limit` therefore

- raises again at every watchdog tick for as long as the guarded call's frame is on the thread's stack (so a
  swallowed raise is followed by another; once the call has returned or raised, no more are sent), and
- checks the deadline again when the call returns: a result that came after it is discarded and the call
  raises :class:`TimeLimitExceeded` (a call stuck in C that returns late is a timeout too).

The per-call cost is a registration under a lock (no thread or process per call): the extract stage's hot
path is unchanged (bench/extract.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


class TimeLimitExceeded(Exception):
    """The guarded call ran longer than its limit."""


class _Guard:
    """One guarded call: its thread, deadline and (once running) the frame of :func:`_guarded`."""

    __slots__ = ("deadline", "fired", "frame", "raises", "tid")

    def __init__(self, tid: int, deadline: float) -> None:
        self.tid = tid
        self.deadline = deadline
        self.frame: FrameType | None = None
        self.fired = False  # for time_limit(): raised once
        self.raises = 0


_lock = threading.Lock()
_guards: dict[int, _Guard] = {}  # thread id -> guard of call_with_time_limit
_blocks: dict[int, _Guard] = {}  # thread id -> guard of a time_limit() block
_watchdog: threading.Thread | None = None
_TICK = 0.02


def _set_async_exc(tid: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc) if exc else None)


def _on_stack(frame: FrameType, top: FrameType | None) -> bool:
    while top is not None:
        if top is frame:
            return True
        top = top.f_back
    return False


def _watch() -> None:
    while True:
        time.sleep(_TICK)
        now = time.monotonic()
        with _lock:
            due = [g for g in _guards.values() if now >= g.deadline and g.frame is not None]
            if due:
                frames = sys._current_frames()
                for g in due:
                    # only while the guarded call is still running (its frame is on the thread's stack)
                    if g.frame is not None and _on_stack(g.frame, frames.get(g.tid)):
                        g.raises += 1
                        _set_async_exc(g.tid, TimeLimitExceeded)
                del frames
            for g in _blocks.values():
                if now >= g.deadline and not g.fired:
                    g.fired = True
                    _set_async_exc(g.tid, TimeLimitExceeded)


def _ensure_watchdog() -> None:
    global _watchdog
    if _watchdog is None or not _watchdog.is_alive():
        _watchdog = threading.Thread(target=_watch, name="corpus-forge-time-limit", daemon=True)
        _watchdog.start()


def _guarded(guard: _Guard, fn: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> T:
    guard.frame = sys._getframe()  # the watchdog raises while this frame is on the stack
    return fn(*args, **kwargs)


def call_with_time_limit(seconds: float | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, or :class:`TimeLimitExceeded` if it runs (or returns) after ``seconds``.

    ``seconds`` None or <= 0: no limit. Exceptions of ``fn`` propagate unchanged.
    """
    if not seconds or seconds <= 0:
        return fn(*args, **kwargs)
    tid = threading.get_ident()
    guard = _Guard(tid, time.monotonic() + seconds)
    with _lock:
        _ensure_watchdog()
        _guards[tid] = guard
    timed_out = False
    result: Any = None
    try:
        result = _guarded(guard, fn, args, kwargs)
    except TimeLimitExceeded:
        timed_out = True
    finally:
        # The guarded frame is gone, so the watchdog sends nothing more; one raise may still be in flight
        # (sent just as the call ended): clear it, and catch it should it land while we do.
        while True:
            try:
                with _lock:
                    _guards.pop(tid, None)
                    guard.frame = None
                    if guard.raises:
                        _set_async_exc(tid, None)
                break
            except TimeLimitExceeded:
                timed_out = True
    if timed_out or time.monotonic() > guard.deadline:
        raise TimeLimitExceeded(f"ran past its {seconds:g} s limit")
    return result


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in this thread if the block runs longer than ``seconds``.

    One raise, which a gc callback can swallow: where that matters, use :func:`call_with_time_limit`.
    """
    if not seconds or seconds <= 0:
        yield
        return
    tid = threading.get_ident()
    guard = _Guard(tid, time.monotonic() + seconds)
    with _lock:
        _ensure_watchdog()
        _blocks[tid] = guard
    try:
        yield
    finally:
        with _lock:
            _blocks.pop(tid, None)
            if guard.fired:
                # the exception may still be pending (not yet delivered): clear it so it cannot
                # surface later, outside the guarded block.
                _set_async_exc(tid, None)
