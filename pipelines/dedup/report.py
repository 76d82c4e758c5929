"""The ``dedup`` step's section of the run report: how many documents each duplicate cluster holds."""

from __future__ import annotations

from typing import Any

from corpus_forge.sections import Section, img, plt, png


def section(step_dir: str, stats: dict[str, Any]) -> Section | None:
    d = stats.get("dedup")
    if not isinstance(d, dict) or not d.get("cluster_size_histogram"):
        return None
    hist = d["cluster_size_histogram"]
    fig, ax = plt().subplots(figsize=(6, 3.2))
    ax.bar(list(hist), list(hist.values()), color="#0b7285")
    ax.set_xlabel("documents per duplicate cluster")
    ax.set_ylabel("clusters")
    ax.set_title(f"{d.get('clusters', 0):,} clusters, largest {d.get('largest_cluster', 0):,}")
    fig.tight_layout()
    return Section("Duplicate clusters", img(png(fig), "dedup cluster sizes"))
