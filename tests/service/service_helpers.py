"""Shared by the service tests: the recipe they run, how to run it, and a per-step summary of a run folder that
two runs of the same recipe must share (wherever they ran: in containers, on a loopback cluster)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from demo_run import set_args

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The recipe both service tests run: the default one unless $CF_RECIPE names another (a path relative to the
# repository root, as `forge` in docker-compose.yml takes it relative to /app).
DEFAULT_RECIPE = "pipelines/recipes/webtext.yaml"
RECIPE = os.environ.get("CF_RECIPE", DEFAULT_RECIPE)
COUNT_KEYS = ("documents_in", "documents_out", "removed")


def run_summary(run_dir: Path) -> dict[str, dict]:
    """Per step folder (``NN-ID``): the document counts of its ``stats.json`` and, for a step that writes
    documents, the sorted (id, sha1 of text) of every document in its part files. Paths, timings and file
    names (which hash input paths) are left out: they differ between a container and the host."""
    import pyarrow.parquet as pq

    out: dict[str, dict] = {}
    for step in sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name[:2].isdigit()):
        entry: dict = {"success": (step / "_SUCCESS").exists()}
        stats_file = step / "stats.json"
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
            entry["counts"] = {k: stats[k] for k in COUNT_KEYS if k in stats}
        docs = []
        for part in sorted(step.glob("part-*.parquet")):
            schema = pq.read_schema(part)
            if "id" not in schema.names:
                continue
            cols = ["id", "text"] if "text" in schema.names else ["id"]
            t = pq.read_table(part, columns=cols).to_pydict()
            texts = t.get("text", [None] * len(t["id"]))
            docs += [(str(i), hashlib.sha1((x or "").encode()).hexdigest())
                     for i, x in zip(t["id"], texts, strict=True)]
        if docs:
            entry["documents"] = sorted(docs)
        out[step.name] = entry
    return out


def run_recipe(out: Path, *extra: str, env: dict | None = None, timeout: float = 1200) -> subprocess.CompletedProcess:
    """``corpus-forge run RECIPE --out OUT --no-progress --set ...`` (the ablation at the tests' budget,
    tests/demo_run.py) from the repository root (recipe paths are relative to it), in this environment less
    ``DASK_SCHEDULER_ADDRESS``, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    cmd = [str(BIN / "corpus-forge"), "run", RECIPE, "--out", str(out), "--no-progress", *set_args(), *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**base, **(env or {})})


def check_run(r: subprocess.CompletedProcess, out: Path, what: str) -> dict[str, dict]:
    """The run succeeded, wrote its report, and every step is complete: its summary."""
    assert r.returncode == 0, f"{what} run of {RECIPE} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert (out / "report.html").stat().st_size > 0
    summary = run_summary(out)
    assert summary, f"{what}: no step folders in {out}"
    assert all(s["success"] for s in summary.values()), {k: s["success"] for k, s in summary.items()}
    return summary
