"""Systematic failures: a stage where one error-class reason took every record must not report success."""

from __future__ import annotations

from typing import Any


def systematic_failure(stats: dict[str, Any], error_reasons: set[str], share: float = 1.0) -> str | None:
    """A message if one reason in ``error_reasons`` took at least ``share`` of the input records."""
    n_in = int(stats.get("documents_in", 0))
    if not n_in or not error_reasons:
        return None
    removed = stats.get("removed", {})
    for reason in sorted(error_reasons):
        n = int(removed.get(reason, 0))
        if n and n >= share * n_in:
            return f"{n:,} of {n_in:,} records failed with {reason!r}: a systematic failure, not a result"
    return None
