"""What a step is: its options, how its input is cut into partitions, a pure function per partition, and
optional global phases before and after the map.

The lifecycle, run by :func:`corpus_forge.runner.run_stage` for every step::

    partitions(inputs)                 on the client: cut the input into units of work
    prepare(partitions, run) -> ctx    on the client, once: a global phase (Dask collections or futures
                                       through ``run.client``, files under ``run.work_dir``); ``ctx`` is
                                       broadcast to every worker once
    process(partition, ctx)            on a worker, per partition, no Dask inside: kept, removed, counters
    finalize(run, counters, markers)   on the client, once: a global phase after the map (reduce, train,
                                       assemble shards, tables); returns extra ``stats.json`` keys

A step knows nothing of markers, retries, ``_SUCCESS`` or ``stats.json``: the runner writes them (and records
there whether the step ``writes_documents``, which puts it in the report's funnel). Two optional hooks show a
step's results: ``print_report(stats)`` at the end of a command-line run, ``report_section(step_dir, stats)`` in
``report.html``.

    class MyStage(DocumentStage):
        name = "my-stage"
        Config = MyConfig            # options, declared once (pydantic fields with defaults and help)
        help = "one line for --help"
        def process_table(self, table, ctx):  # kept, removed (with 'reason'), counters
            ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from corpus_forge.config import StageConfig, validate
from corpus_forge.io import path_key, read_parquet, stage_output_files
from corpus_forge.stats import Counters

if TYPE_CHECKING:
    from corpus_forge.sections import Section


@dataclass(frozen=True)
class Partition:
    """One unit of work: a file, or a byte/row range of one. ``key`` names its output files.

    Keys come from what the partition *is* (its input's path and range), never from its position in
    the input list, so adding or removing an input cannot rename or collide with other partitions.
    """

    key: str
    path: str
    start: int = 0
    end: int | None = None  # exclusive; None = to the end
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class PartitionResult:
    """What processing one partition produced: the documents kept, the documents removed (always a table,
    possibly empty, with a ``reason`` column) and the counters.

    Steps that write no documents (``writes_documents = False``) return ``kept=None, removed=None``.
    """

    kept: pa.Table | None
    removed: pa.Table | None
    counters: Counters


@dataclass(frozen=True)
class RunContext:
    """What the runner hands a step's global phases."""

    out_dir: str  # the step's output folder (local path or fsspec URL)
    work_dir: str  # OUT/_work/, created and owned by the runner
    client: Any  # the distributed.Client of the run
    keep_removed: bool = False
    progress: bool = True


def parquet_partitions(inputs: list[str]) -> list[Partition]:
    """One partition per Parquet file of the input stage folders, keyed by the file (see :func:`path_key`)."""
    parts = []
    for f in stage_output_files(inputs):
        # keep the input's readable name without re-nesting keys stage after stage
        base = re.sub(r"-[0-9a-f]{10}$", "", re.sub(r"^part-", "", f.rsplit("/", 1)[-1].removesuffix(".parquet")))
        parts.append(Partition(key=path_key(f, base), path=f))
    return parts


def read_partition(part: Partition, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet partition (rows ``start:end`` when set)."""
    return read_parquet(part.path, part.start, part.end, columns)


class Stage:
    """Base class of every step: set ``name``, ``Config``, ``help``; implement :meth:`partitions`, :meth:`process`."""

    name: ClassVar[str] = "stage"
    Config: ClassVar[type[StageConfig]] = StageConfig
    help: ClassVar[str] = ""
    #: False for steps whose output is not documents (karma table, tokenizer, shards, ablation runs)
    writes_documents: ClassVar[bool] = True
    #: the positional arguments of the step's command (None: the step takes no positional inputs)
    inputs_metavar: ClassVar[str | None] = "INPUT_DIR"
    inputs_help: ClassVar[str] = "a previous stage's --out directory"
    #: reasons that mean "could not process" rather than "decided to drop"; if one of them takes every
    #: record the stage fails loudly instead of reporting success (see corpus_forge.health)
    error_reasons: ClassVar[frozenset[str]] = frozenset()
    #: marker fields holding lists or dicts that :meth:`finalize` reads from ``markers`` (the runner keeps only
    #: each marker's scalars otherwise: its counters are folded into ``counters`` as they arrive)
    marker_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: StageConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    #: the command line path when it is not just ``name`` (``("karma", "build")``)
    command: ClassVar[tuple[str, ...] | None] = None

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> Stage:
        """The step from a recipe's (or ``--config``'s) options; a bad key raises ``ConfigError`` naming it."""
        return cls(validate(cls.Config, options or {}, cls.name))

    @staticmethod
    def add_cli_arguments(parser: Any) -> None:
        """Command-line conveniences beyond the generated per-option flags (rarely needed)."""

    @staticmethod
    def cli_options(options: dict[str, Any], args: Any) -> dict[str, Any]:
        """Turn those conveniences into options (default: as given)."""
        return options

    @staticmethod
    def print_report(stats: dict[str, Any]) -> None:
        """Printed at the end of a run from the command line: under the documents table for a step that writes
        documents; for one that does not, the step's whole summary (default: nothing)."""

    @staticmethod
    def report_section(step_dir: str, stats: dict[str, Any]) -> Section | None:
        """This step's part of the run's ``report.html``, from its output folder and ``stats.json`` (default:
        none; a step that writes documents is in the funnel either way). See :mod:`corpus_forge.sections`."""
        return None

    def independent_partitions(self) -> bool:
        """True when a partition's output depends on that partition alone (no global phase decides it).

        Then a rerun with other inputs keeps the finished partitions that are still inputs; otherwise a
        changed partition set redoes them all. The safe default is False.
        """
        return False

    def inputs_identity(self, partitions: list[Partition]) -> Any:
        """What the options and partitions point at that can change between runs (JSON), e.g. the sha256 of
        the tokenizer a pack reads: when it changes, a finished output is redone, not reused. Default: nothing."""
        return None

    def check(self) -> None:
        """Fail early (on the client, before any work) on options that cannot work (missing files)."""

    def partitions(self, inputs: list[str]) -> list[Partition]:
        raise NotImplementedError

    def prepare(self, partitions: list[Partition], run: RunContext) -> Any:
        return None

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        raise NotImplementedError

    def resources(self, part: Partition, ctx: Any = None) -> dict[str, float] | None:
        """Dask worker resources this partition's task needs (e.g. ``{"GPU": 1}``), given what :meth:`prepare`
        returned; None = any worker."""
        return None

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        """Extra keys for ``stats.json`` after all partitions ran (default: none)."""
        return {}


class DocumentStage(Stage):
    """A stage whose input is a previous stage's output directory (``part-*.parquet``).

    One partition per Parquet file; subclasses implement :meth:`process_table`.
    """

    def partitions(self, inputs: list[str]) -> list[Partition]:
        return parquet_partitions(inputs)

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        table = read_partition(part)
        return self.process_table(table, ctx)

    def process_table(self, table: pa.Table, ctx: Any = None) -> PartitionResult:
        raise NotImplementedError
