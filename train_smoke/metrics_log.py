"""``OUT/metrics.jsonl``: one JSON object per logged step, kept whole in memory as well.

A local file grows row by row (``tail -f`` works); an object store cannot append, so there the file is
rewritten whole at every checkpoint and at the end, the rows first: a run killed between the two leaves rows
past its checkpoint, which the resumed run drops (:meth:`MetricsLog.resume_at`), never a hole.
"""

from __future__ import annotations

import json
from typing import IO, Any

from corpus_forge.io import is_url, path_exists, read_text, write_text_atomic

METRICS = "metrics.jsonl"


class MetricsLog:
    def __init__(self, path: str) -> None:
        self.path, self.remote = path, is_url(path)
        self.rows: list[str] = []
        self._file: IO[str] | None = None

    def resume_at(self, step: int) -> None:
        """Keep the rows up to ``step`` (0: none) and rewrite the file with just those."""
        if step and path_exists(self.path):
            self.rows = [ln for ln in read_text(self.path).splitlines()
                         if ln.strip() and json.loads(ln)["step"] <= step]
        else:
            self.rows = []
        self.flush()
        if not self.remote:
            self._file = open(self.path, "a")

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(json.dumps(row))
        if self._file is not None:
            self._file.write(self.rows[-1] + "\n")
            self._file.flush()

    def flush(self) -> None:
        """Rewrite the file whole (an object store's only way to add rows)."""
        write_text_atomic(self.path, "".join(r + "\n" for r in self.rows))

    def checkpointed(self) -> None:
        """Called just before a checkpoint is written."""
        if self.remote:
            self.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self.remote:
            self.flush()
