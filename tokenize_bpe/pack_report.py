"""The ``pack`` step's section of the run report: tokens, documents, weights and epochs per source per mix."""

from __future__ import annotations

import os
from typing import Any

from corpus_forge.io import glob, read_json
from corpus_forge.sections import Section, fmt, table

HEADER = ["mix", "source", "train tokens", "val tokens", "documents", "weight asked", "weight got", "epochs"]


def section(step_dir: str, stats: dict[str, Any]) -> Section | None:
    """One row per source of every mix's ``manifest.json`` (and a row for a mix that stopped short)."""
    rows: list[list[Any]] = []
    for path in glob(os.path.join(step_dir, "*", "manifest.json")):
        m = read_json(path)
        mix = m.get("mix") or path.rstrip("/").split("/")[-2]
        for src in m.get("sources", []):
            rows.append([mix, src.get("name", ""), fmt(int(src.get("train_tokens", 0))),
                         fmt(int(src.get("val_tokens", 0))), fmt(int(src.get("documents", 0))),
                         fmt(src.get("requested_weight"), 3), fmt(src.get("achieved_weight"), 3),
                         fmt(src.get("epochs"), 2)])
        if m.get("stopped_short"):
            rows.append([mix, "(stopped short)", "", "", "", "", "", m.get("note", "")])
    return Section("Tokens per source per mix", table(HEADER, rows)) if rows else None
