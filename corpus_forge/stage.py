"""What a stage is: how its input is cut into partitions, and a pure function over one partition.

A stage knows nothing of Dask. The runner (:mod:`corpus_forge.runner`) maps partitions to tasks,
writes outputs atomically, skips finished partitions on rerun and merges counters into ``stats.json``.

    class MyStage(DocumentStage):
        name = "my-stage"
        def process_table(self, table, ctx):  # kept, removed (with 'reason'), counters
            ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from corpus_forge.stats import Counters


@dataclass(frozen=True)
class Partition:
    """One unit of work: a file, or a byte/row range of one. ``key`` names its output files."""

    key: str
    path: str
    start: int = 0
    end: int | None = None  # exclusive; None = to the end
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class PartitionResult:
    """What processing one partition produced. ``removed`` carries a ``reason`` column."""

    kept: pa.Table
    removed: pa.Table | None
    counters: Counters


def safe_key(text: str, limit: int = 80) -> str:
    """A filesystem-safe fragment of ``text`` for partition keys."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[-limit:].strip("._") or "part"


class Stage:
    """Base class: subclasses set ``name`` and implement :meth:`partitions` and :meth:`process`.

    ``prepare`` runs once on the client before any partition (e.g. build a broadcast set); what it
    returns is shipped to every worker once and handed to ``process`` as ``ctx``.
    """

    name: ClassVar[str] = "stage"

    def partitions(self, inputs: list[str]) -> list[Partition]:
        raise NotImplementedError

    def prepare(self, partitions: list[Partition]) -> Any:
        return None

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        raise NotImplementedError

    def finalize(self, out_dir: str, counters: Counters) -> dict[str, Any]:
        """Extra keys for ``stats.json`` after all partitions ran (default: none)."""
        return {}


class DocumentStage(Stage):
    """A stage whose input is a previous stage's output directory (``part-*.parquet``).

    One partition per Parquet file; subclasses implement :meth:`process_table`.
    """

    def partitions(self, inputs: list[str]) -> list[Partition]:
        from corpus_forge.io import parquet_partitions

        return parquet_partitions(inputs)

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        from corpus_forge.io import read_partition

        table = read_partition(part)
        return self.process_table(table, ctx)

    def process_table(self, table: pa.Table, ctx: Any = None) -> PartitionResult:
        raise NotImplementedError
