"""Progress over partitions and the one-screen end-of-stage summary (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)


class PartitionProgress:
    """A progress bar over a stage's partitions; ``update(done, total)`` moves it."""

    def __init__(self, name: str, enabled: bool = True) -> None:
        self.name = name
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> PartitionProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn(f"[bold]{self.name}[/]"), BarColumn(), MofNCompleteColumn(),
                TextColumn("partitions"), TimeElapsedColumn(), console=console, transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.name, total=None)
        return self

    def update(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def _fmt(n: int, total: int) -> str:
    return f"{n:,}" + (f" ({100 * n / total:.1f}%)" if total else "")


def summary_table(stats: dict[str, Any]) -> Table:
    """Documents in/out and every removal reason, with shares of the input."""
    n_in = int(stats.get("documents_in", 0))
    unit = "records" if stats.get("stage") == "extract" else "documents"
    t = Table(title=f"{stats.get('stage', 'stage')}: {stats.get('seconds', 0)} s, "
                    f"{stats.get('partitions_done', '?')}/{stats.get('partitions', '?')} partitions")
    examples = stats.get("examples", {}) if isinstance(stats.get("examples"), dict) else {}
    t.add_column("", no_wrap=True)
    t.add_column("count", justify="right", no_wrap=True, min_width=14)
    if examples:
        t.add_column("example", no_wrap=True, overflow="ellipsis", max_width=40)
    pad = [""] if examples else []
    t.add_row(f"{unit} in", f"{n_in:,}", *pad)
    t.add_row("[green]documents out[/]", _fmt(int(stats.get("documents_out", 0)), n_in), *pad)
    for reason, n in sorted(stats.get("removed", {}).items(), key=lambda kv: -kv[1]):
        ex = examples.get(reason) or [""]
        t.add_row(f"removed: {reason}", _fmt(int(n), n_in), *([" ".join(str(ex[0]).split())[:80]] if examples else []))
    for reason, n in sorted(stats.get("errors", {}).items()):
        t.add_row(f"[red]error: {reason}[/]", f"{n:,}", *pad)
    return t


def print_summary(stats: dict[str, Any], out_dir: str, stage: Any = None) -> None:
    """The end of a step's run: for a step that writes documents, the documents table (in, out, each removal
    reason); for one that does not, a title line (its documents are not the point: bpe, pack, ablate). Then
    failed partitions, the step's own summary (``stage.print_report``) and where the output is."""
    if stage is None or stage.writes_documents:
        console.print(summary_table(stats))
    else:
        console.print(f"[bold]{stats.get('stage', stage.name)}[/]: {stats.get('seconds', 0)} s, "
                      f"{stats.get('partitions_done', '?')}/{stats.get('partitions', '?')} partitions")
    for f in stats.get("failed_partitions", []):
        console.print(f"[red]failed partition[/] {f['key']} ({f['input']}): {f['error']}")
    if stage is not None:
        stage.print_report(stats)
    console.print(f"output: {out_dir}   stats: {out_dir.rstrip('/')}/stats.json")
