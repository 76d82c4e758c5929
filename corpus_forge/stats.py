"""Counters a partition returns and the merged ``stats.json`` a stage writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class AccountingError(AssertionError):
    """``documents_in != documents_out + sum(removed)``: some document was lost or double counted."""


def _merge_extra(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum numbers, merge dicts recursively, concatenate lists, keep the first of anything else."""
    out = dict(a)
    for k, v in b.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, bool) or not isinstance(v, (int, float, dict, list)):
            continue
        elif isinstance(v, (int, float)):
            out[k] = out[k] + v
        elif isinstance(v, dict):
            out[k] = _merge_extra(out[k], v)
        else:
            out[k] = list(out[k]) + list(v)
    return out


@dataclass
class Counters:
    """What one partition (or a whole stage, after merging) did to its documents."""

    documents_in: int = 0
    documents_out: int = 0
    removed: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    def remove(self, reason: str, n: int = 1) -> None:
        self.removed[reason] += n

    def error(self, reason: str, n: int = 1) -> None:
        self.errors[reason] += n

    def merge(self, other: Counters) -> Counters:
        return Counters(
            self.documents_in + other.documents_in,
            self.documents_out + other.documents_out,
            self.removed + other.removed,
            self.errors + other.errors,
            _merge_extra(self.extra, other.extra),
        )

    def check(self, where: str = "") -> None:
        """Raise :class:`AccountingError` unless in == out + removed."""
        total = self.documents_out + sum(self.removed.values())
        if self.documents_in != total:
            raise AccountingError(
                f"{where or 'stage'}: documents_in={self.documents_in} but documents_out="
                f"{self.documents_out} + removed={sum(self.removed.values())} = {total}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents_in": self.documents_in,
            "documents_out": self.documents_out,
            "removed": dict(sorted(self.removed.items())),
            "errors": dict(sorted(self.errors.items())),
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counters:
        known = {"documents_in", "documents_out", "removed", "errors"}
        return cls(
            int(d.get("documents_in", 0)),
            int(d.get("documents_out", 0)),
            Counter(d.get("removed", {})),
            Counter(d.get("errors", {})),
            {k: v for k, v in d.items() if k not in known},
        )
