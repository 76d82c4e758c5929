"""A rich progress bar over optimizer steps (or nothing, when disabled)."""

from __future__ import annotations


class Bar:
    def __init__(self, enabled: bool, total: int, done: int, label: str) -> None:
        self.progress = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(f"[bold]train[/] {label}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeRemainingColumn())
            self.task = self.progress.add_task("train", total=total, completed=done, info="")
            self.progress.start()

    def update(self, step: int, info: str | None = None) -> None:
        if self.progress is not None:
            kw = {"info": info} if info is not None else {}
            self.progress.update(self.task, completed=step, **kw)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
