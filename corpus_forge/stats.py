"""Counters a partition returns and the merged ``stats.json`` a stage writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class AccountingError(AssertionError):
    """``documents_in != documents_out + sum(removed)``: some document was lost or double counted."""


KINDS = ("sum", "max", "constant")
KINDS_KEY = "_kinds"


def _merge_extra(a: dict[str, Any], b: dict[str, Any], kinds: dict[str, str] | None = None) -> dict[str, Any]:
    """By each key's declared kind: ``max``, ``constant`` (the same on every partition: keep one); by
    default (``sum``) sum numbers, merge dicts recursively, concatenate lists, keep the first of the rest."""
    out = dict(a)
    kinds = kinds or {}
    for k, v in b.items():
        kind = kinds.get(k, "sum")
        if k not in out:
            out[k] = v
        elif kind == "constant":
            continue
        elif kind == "max":
            out[k] = max(out[k], v)
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
    kinds: dict[str, str] = field(default_factory=dict)  # extra key -> "max" | "constant" (default: sum)

    def constant(self, key: str, value: Any) -> None:
        """A figure that is the same for every partition (e.g. the size of a broadcast index)."""
        self.extra[key], self.kinds[key] = value, "constant"

    def maximum(self, key: str, value: Any) -> None:
        """A figure merged by taking the largest (e.g. peak memory of a partition)."""
        self.extra[key], self.kinds[key] = value, "max"

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
            _merge_extra(self.extra, other.extra, {**self.kinds, **other.kinds}),
            {**self.kinds, **other.kinds},
        )

    def check(self, where: str = "") -> None:
        """Raise :class:`AccountingError` unless in == out + removed."""
        total = self.documents_out + sum(self.removed.values())
        if self.documents_in != total:
            raise AccountingError(
                f"{where or 'stage'}: documents_in={self.documents_in} but documents_out="
                f"{self.documents_out} + removed={sum(self.removed.values())} = {total}"
            )

    def to_dict(self, with_kinds: bool = True) -> dict[str, Any]:
        """The counters as JSON; ``with_kinds`` keeps the declared kinds (markers) for a later merge."""
        out = {
            "documents_in": self.documents_in,
            "documents_out": self.documents_out,
            "removed": dict(sorted(self.removed.items())),
            "errors": dict(sorted(self.errors.items())),
            **self.extra,
        }
        if with_kinds and self.kinds:
            out[KINDS_KEY] = dict(self.kinds)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counters:
        known = {"documents_in", "documents_out", "removed", "errors", KINDS_KEY}
        return cls(
            int(d.get("documents_in", 0)),
            int(d.get("documents_out", 0)),
            Counter(d.get("removed", {})),
            Counter(d.get("errors", {})),
            {k: v for k, v in d.items() if k not in known},
            dict(d.get(KINDS_KEY, {})),
        )
