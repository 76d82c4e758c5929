"""The ``decontaminate`` step's section of the run report: test items found per benchmark, text excised."""

from __future__ import annotations

from typing import Any

from corpus_forge.sections import Section, fmt, paragraph, table


def section(step_dir: str, stats: dict[str, Any]) -> Section | None:
    rows = [[bench, fmt(r.get("items_found", 0)), fmt(r.get("items") or 0), fmt(r.get("documents_touched", 0))]
            for bench, r in (stats.get("contamination") or {}).items()]
    if not rows:
        return None
    body = table(["benchmark", "test items found", "items", "documents touched"], rows)
    dec = stats.get("decontamination") or {}
    if dec.get("excised_documents"):
        body += paragraph(f"benchmark text excised from {dec['excised_documents']:,} documents "
                          f"({dec.get('excised_chars', 0):,} characters cut); the documents are kept")
    return Section("Contamination", body)
