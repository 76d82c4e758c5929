"""Counters a partition returns and the merged ``stats.json`` a stage writes."""

from __future__ import annotations

import bisect
import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class AccountingError(AssertionError):
    """``documents_in != documents_out + sum(removed)``: some document was lost or double counted."""


KINDS = ("sum", "max", "constant")
KINDS_KEY = "_kinds"


#: a merged list of examples (under a key ending in ``examples``) keeps at most this many items; lists named
#: ``*_ids`` are sets (sorted, unique); other lists are concatenated whole
LIST_CAP = 100


def _merge_extra(a: dict[str, Any], b: dict[str, Any], kinds: dict[str, str] | None = None,
                 in_place: bool = False, capped: bool = False) -> dict[str, Any]:
    """``a`` then ``b``, by each key's declared kind: ``max``, ``constant`` (the same on every partition: keep
    one); by default (``sum``) sum numbers, merge dicts recursively, concatenate lists (examples: the first
    :data:`LIST_CAP`; ``*_ids``: a sorted union), keep the first of the rest. ``in_place`` changes and returns
    ``a`` (its cost is then the size of ``b``); otherwise ``a`` is copied first."""
    kinds = kinds or {}
    a = a if in_place else dict(a)
    for k, v in b.items():
        kind = kinds.get(k, "sum")
        cap = capped or k.endswith("examples")
        if k not in a:
            a[k] = _first(k, v, cap) if isinstance(v, list) else v
        elif kind == "constant":
            continue
        elif kind == "max":
            a[k] = max(a[k], v)
        elif isinstance(v, bool) or not isinstance(v, (int, float, dict, list)):
            continue
        elif isinstance(v, (int, float)):
            a[k] = a[k] + v
        elif isinstance(v, dict):
            a[k] = _merge_extra(a[k], v, in_place=in_place, capped=cap)
        elif k.endswith("_ids"):  # a set while merging (to_dict sorts it)
            if in_place and isinstance(a[k], set):
                a[k].update(v)
            else:
                a[k] = set(a[k]).union(v)
        elif cap:
            if len(a[k]) < LIST_CAP:
                a[k] = list(a[k]) + list(v[: LIST_CAP - len(a[k])])
        elif in_place and isinstance(a[k], list):
            a[k].extend(v)
        else:
            a[k] = list(a[k]) + list(v)
    return a


def _first(key: str, v: list, cap: bool) -> list | set:
    if key.endswith("_ids"):
        return set(v)
    return v[:LIST_CAP] if cap else v


def _plain(v: Any) -> Any:
    """JSON-ready: the sets of ``*_ids`` lists as sorted lists."""
    if isinstance(v, set):
        return sorted(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


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
        """A new Counters: ``self`` then ``other`` (neither is changed)."""
        kinds = {**self.kinds, **other.kinds}
        return Counters(self.documents_in + other.documents_in, self.documents_out + other.documents_out,
                        self.removed + other.removed, self.errors + other.errors,
                        _merge_extra(self.extra, other.extra, kinds), kinds)

    def merge_in(self, other: Counters) -> Counters:
        """Merge ``other`` (which is spent: its values may be taken) into ``self`` in place; return ``self``.
        Cost: the size of ``other``, never of what ``self`` already holds (lists are capped)."""
        self.documents_in += other.documents_in
        self.documents_out += other.documents_out
        self.removed.update(other.removed)
        self.errors.update(other.errors)
        self.removed, self.errors = +self.removed, +self.errors  # as Counter's + does: no zero counts
        self.kinds.update(other.kinds)
        _merge_extra(self.extra, other.extra, self.kinds, in_place=True)
        return self

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
            **{k: _plain(v) for k, v in self.extra.items()},
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
            {k: copy.deepcopy(v) for k, v in d.items() if k not in known},  # a merge in place may change them
            dict(d.get(KINDS_KEY, {})),
        )


class KeyOrderFold:
    """Counters that arrive in any order (partitions finish when they finish), folded in place into what
    merging them in key order gives (so lists such as examples are the same every run).

    It holds one Counters per run of consecutive keys, so its size is the number of gaps (tasks still in
    flight or failed), not the number of partitions. ``keys`` is every key that may arrive.
    """

    def __init__(self, keys: list[str]) -> None:
        self._keys = sorted(keys)
        self._runs: dict[int, tuple[int, Counters]] = {}  # start -> (end, merged counters of [start, end))
        self._ends: dict[int, int] = {}  # end -> start

    def _position(self, key: str) -> int:
        i = bisect.bisect_left(self._keys, key)
        if i == len(self._keys) or self._keys[i] != key:
            raise KeyError(f"unknown partition key {key!r}")
        return i

    def add(self, key: str, counters: Counters) -> None:
        """Fold one partition's counters (spent: the fold may take its values); each key at most once."""
        start = self._position(key)
        end = start + 1
        left = self._ends.pop(start, None)
        if left is not None:
            counters = self._runs.pop(left)[1].merge_in(counters)
            start = left
        right = self._runs.pop(end, None)
        if right is not None:
            del self._ends[right[0]]
            counters = counters.merge_in(right[1])
            end = right[0]
        self._runs[start], self._ends[end] = (end, counters), start

    @property
    def runs(self) -> int:
        """How many separate runs are held (the fold's size)."""
        return len(self._runs)

    def result(self) -> Counters:
        total = Counters()
        for start in sorted(self._runs):
            total.merge_in(self._runs[start][1])
        return total
