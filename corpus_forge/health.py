"""Systematic failures: a stage where one error-class reason took every record must not report success.

A stage names its error-class reasons (``Stage.error_reasons``: "could not process", e.g. extract's
``extract_error``, ``decode_error``, ``timeout``, ``corrupt_record``), as opposed to decisions (a filter's
removals, ``not_html``, ``too_large``, ``extract_empty``). After the counters of every partition are merged,
the runner asks :func:`systematic_failure`; a message means exit 1 (CONTRACT: "a systematic failure (the
same error-class reason on every record) that must not pass as success").

The share is taken over the records that were not removed by a decision, i.e. that were either kept or
failed (``documents_out + errors``): in a WARC most records are requests, metadata and so on, removed as
``not_response`` before any extraction, so "every record" means every record that was tried. The share is
a stage option, ``max_error_share`` (declared once, in :class:`ErrorShareConfig`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from corpus_forge.config import StageConfig


class ErrorShareConfig(StageConfig):
    """Mixin for a stage's options: ``max_error_share`` (a stage that inherits it gets the check's option)."""

    max_error_share: float = Field(
        1.0, gt=0, le=1,
        description="fail the stage (exit 1) when one error-class reason (e.g. extract_error, decode_error, "
                    "timeout, corrupt_record) took at least this share of the records that were kept or failed "
                    "(1 = only when it took every one)")


def systematic_failure(stats: dict[str, Any], error_reasons: set[str] | frozenset[str],
                       share: float = 1.0) -> str | None:
    """A one-line message if one reason in ``error_reasons`` took at least ``share`` of the records that were
    kept or failed (``documents_out`` + the records removed under ``error_reasons``); None otherwise.

    ``stats`` is a merged ``stats.json`` (``documents_in``, ``documents_out``, ``removed``). Reasons are checked
    one by one ("the same reason"), in sorted order; the largest share wins the message.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    removed = stats.get("removed") or {}
    failed = {r: int(removed.get(r, 0)) for r in sorted(error_reasons) if int(removed.get(r, 0)) > 0}
    if not failed:
        return None
    tried = int(stats.get("documents_out", 0)) + sum(failed.values())
    reason, n = max(failed.items(), key=lambda kv: kv[1])
    if n < share * tried:
        return None
    n_in = int(stats.get("documents_in", 0))
    what = "every one" if n == tried else f"{n / tried:.0%}, at least max_error_share={share:g}"
    return (f"{n:,} of the {tried:,} records that were kept or failed ({n_in:,} read) failed with "
            f"{reason!r} ({what}): a systematic failure, not a result")
