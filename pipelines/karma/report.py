"""What ``karma build`` shows: the end-of-run summary on the terminal and its section of the run report."""

from __future__ import annotations

from typing import Any

from corpus_forge.sections import Section, fmt, table


def figures(stats: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value): lines read, each skip reason, posts used, URLs distinct and kept."""
    rows: list[tuple[str, Any]] = [("dump lines read", stats.get("lines_read", stats.get("documents_in", 0)))]
    if stats.get("malformed"):
        rows.append(("malformed lines", stats["malformed"]))
    rows += [(f"skipped: {reason}", n) for reason, n in sorted((stats.get("skipped") or {}).items(),
                                                               key=lambda kv: -kv[1])]
    rows += [("posts used", stats.get("posts_used", stats.get("documents_out", 0))),
             ("distinct URLs", stats.get("urls_distinct", 0)),
             (f"URLs with karma >= {stats.get('min_karma')} ({stats.get('aggregate')})", stats.get("urls_kept", 0))]
    return rows


def section(step_dir: str, stats: dict[str, Any]) -> Section | None:
    if "urls_kept" not in stats:
        return None
    body = table(["", "count"], [[label, fmt(value)] for label, value in figures(stats)])
    problems = [[p["path"], p["problem"]] for p in stats.get("problem_files", [])]
    if problems:
        body += table(["dump", "problem"], problems)
    return Section("Karma table", body)


def print_summary(stats: dict[str, Any]) -> None:
    """The figures as a table on the terminal, then any dump that could not be read whole."""
    from rich.table import Table

    from corpus_forge.progress import console

    if "urls_kept" in stats:
        t = Table(title=f"karma table → {stats.get('table', '')}")
        t.add_column("")
        t.add_column("count", justify="right")
        for label, value in figures(stats):
            t.add_row(label, f"{int(value):,}")
        console.print(t)
    for p in stats.get("problem_files", []):
        console.print(f"[yellow]{p['path']}[/]: {p['problem']}")
