"""One per-process cache for loaded models, tables and indexes.

Steps and filters ship only their options to the workers; whatever they load (a fastText model, a karma
table, a benchmark index) is loaded once per worker process through :func:`cached`, keyed by those options.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _key(kind: str, options: Any) -> tuple[str, str]:
    if hasattr(options, "model_dump"):
        options = options.model_dump(mode="json")
    return kind, options if isinstance(options, str) else json.dumps(options, sort_keys=True, default=str)


def cached(kind: str, options: Any, load: Callable[[], T]) -> T:
    """``load()`` once per process for each (kind, options); later calls return the same object."""
    key = _key(kind, options)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    value = load()
    with _LOCK:
        return _CACHE.setdefault(key, value)


def clear() -> None:
    """Forget everything (tests)."""
    with _LOCK:
        _CACHE.clear()
