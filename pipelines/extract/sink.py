"""Where one partition's records go: the documents kept, the records removed (with a reason) and the counters.

warcio knows where a record starts and ends only after it was read, and a record starting at or after the
partition's end belongs to the next partition. So each record is handled into a *pending* slot
(:meth:`RecordSink.begin`, then :meth:`keep` or :meth:`drop` and :meth:`tally`) and lands in the partition
only with :meth:`commit`; :meth:`discard` forgets it, :meth:`commit_as` counts it under another reason
(a record cut by the end of the file or by a decompression cap). Every record committed, converted or
:meth:`lost` adds one to ``documents_in`` and either a document or a removal reason, so the partition's
accounting holds by construction.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from corpus_forge.schema import stable_id
from corpus_forge.stats import Counters


class RecordSink:
    """Rows and counters of one partition, committed record by record."""

    def __init__(self, path: str, arc: bool) -> None:
        self.path, self.arc = path, arc
        self.counters = Counters()
        self.rows: list[dict[str, Any]] = []
        self.removed: list[dict[str, Any]] = []
        self.begin()

    # ---- the record being read ---------------------------------------------------------------
    def begin(self) -> None:
        """Start a new pending record (what the previous one left uncommitted is forgotten)."""
        self._counters = Counters(documents_in=1)
        self._rows: list[dict[str, Any]] = []
        self._removed: list[dict[str, Any]] = []

    def keep(self, row: dict[str, Any]) -> None:
        self._rows.append(row)

    def drop(self, row: dict[str, Any], reason: str) -> None:
        self._counters.remove(reason)
        self._removed.append({**row, "text": "", "reason": reason})

    def tally(self, key: str, value: str) -> None:
        """Count ``value`` under the ``stats.json`` key ``key`` (record types, charset sources)."""
        self._counters.extra.setdefault(key, Counter())[value] += 1

    def add(self, key: str, n: int = 1) -> None:
        self._counters.extra[key] = self._counters.extra.get(key, 0) + n

    # ---- deciding where it goes ----------------------------------------------------------------
    def commit(self, offset: int) -> None:
        """The pending record started at ``offset`` in this partition: its rows and counters land."""
        for r in (*self._rows, *self._removed):
            r["warc_offset"] = offset
            if self.arc:  # warcio gives ARC records random ids: name them by file and offset
                r["warc_record_id"] = None
                r["id"] = stable_id(f"{os.path.basename(self.path)}@{offset}")
        self.counters.documents_in += 1
        self.counters.removed.update(self._counters.removed)
        self.counters.extra = self.counters.merge(self._counters).extra
        self.rows.extend(self._rows)
        self.removed.extend(self._removed)
        self.begin()

    def commit_as(self, reason: str, offset: int | None = None) -> None:
        """The pending record counts as one removal under ``reason`` (what it produced becomes removed rows);
        ``offset``, when known, names it as :meth:`commit` does. Its other counters are dropped."""
        pending = [{**r, "reason": reason, "text": ""} for r in (*self._rows, *self._removed)]
        self._counters = Counters(documents_in=1)
        self._counters.remove(reason)
        self._rows, self._removed = [], pending
        if offset is not None:
            self.commit(offset)
            return
        self.counters.documents_in += 1
        self.counters.remove(reason)
        self.removed.extend(pending)
        self.begin()

    def discard(self) -> None:
        """The pending record belongs to the next partition."""
        self.begin()

    def lost(self, reason: str) -> None:
        """One record that could not be read at all (no row): counted under ``reason``."""
        self.counters.documents_in += 1
        self.counters.remove(reason)
