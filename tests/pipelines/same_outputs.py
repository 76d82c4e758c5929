"""What extract and dedup produce on the bundled inputs, as a few digests (for "same outputs as before").

:func:`outputs` runs extract over ``samples/*.warc.gz`` and every file of ``tests/data/warc`` (whole files
and cut into small ranges), then dedup over the extracted samples and over the planted articles of the dedup
tests (three configurations). Each run becomes the document count, the removals per reason and a sha256 over
the sorted ``id, sha256(text), ...`` lines of its kept documents and ``id, reason`` lines of its removed ones.

``tests/data/golden/extract_dedup.json`` holds what the code gave before the house-split refactor (its header
names the commit); regenerate it only on purpose::

    .venv/bin/python tests/pipelines/same_outputs.py tests/data/golden/extract_dedup.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).parents[2]
WARCS = ROOT / "tests" / "data" / "warc"
EXTRACT_RUNS = {  # name -> (inputs, options)
    "samples": ([str(ROOT / "samples" / "*.warc.gz")], {}),
    "samples-64k-ranges": ([str(ROOT / "samples" / "*.warc.gz")], {"split_bytes": 64 * 1024}),
    "test-warcs": ([str(p) for p in sorted(WARCS.glob("*")) if p.suffix not in (".md",)
                    and not p.name.endswith(".paths.gz")], {}),
    "test-warcs-16k-ranges": ([str(p) for p in sorted(WARCS.glob("*")) if p.suffix not in (".md",)
                               and not p.name.endswith(".paths.gz")], {"split_bytes": 16 * 1024}),
}
DEDUP_RUNS = {"default": {}, "distributed-components": {"components_in_memory_max": 0}, "no-verify": {"verify": False}}


def _where(value: Any) -> str:
    """A column value, with this checkout's path left out (``warc_file`` is absolute: the same documents
    from another clone must give the same digest)."""
    return str(value).replace(str(ROOT) + "/", "")


def _sha(text: str | None) -> str:
    return hashlib.sha256((text or "").encode()).hexdigest()[:16]


def digest(kept: pa.Table, removed: pa.Table, columns: tuple[str, ...]) -> dict[str, Any]:
    """Counts and order-free digests of a run's kept and removed documents."""
    k_lines = sorted("\t".join([r["id"], _sha(r["text"]), *(_where(r.get(c)) for c in columns)])
                     for r in kept.to_pylist())
    r_lines = sorted(f"{r['id']}\t{r['reason']}" for r in removed.select(["id", "reason"]).to_pylist())
    reasons: dict[str, int] = {}
    for r in removed.column("reason").to_pylist():
        reasons[r] = reasons.get(r, 0) + 1
    return {"kept": len(k_lines), "removed": dict(sorted(reasons.items())),
            "kept_sha256": hashlib.sha256("\n".join(k_lines).encode()).hexdigest(),
            "removed_sha256": hashlib.sha256("\n".join(r_lines).encode()).hexdigest()}


def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="permissive")


def extract_outputs(work: Path) -> tuple[dict[str, Any], Path]:
    """Every extract run, processed partition by partition in this process; the samples' kept documents are
    written to ``work/extract`` (one file per partition) for dedup."""
    from pipelines.extract import ExtractConfig, ExtractStage

    out: dict[str, Any] = {}
    folder = work / "extract"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (inputs, opts) in EXTRACT_RUNS.items():
        stage = ExtractStage(ExtractConfig(**opts))
        kept, removed = [], []
        for part in stage.partitions(inputs):
            res = stage.process(part)
            kept.append(res.kept)
            removed.append(res.removed)
            if name == "samples":
                pq.write_table(res.kept, folder / f"part-{part.key}.parquet")
        out[f"extract/{name}"] = digest(_concat(kept), _concat(removed), ("url", "warc_offset", "warc_file"))
    return out, folder


def _planted_articles(work: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "pipelines" / "dedup"))
    from dedup_helpers import add_boilerplate, delete_block, load_articles, substitute

    arts = load_articles()
    rows = [{"id": f"a{i:02d}", "text": a["text"], "url": a["url"], "source": "aeb", "quality_score": 0.5,
             "crawl_date": "2024-01-01"} for i, a in enumerate(arts)]
    plants = [arts[0]["text"].upper(), substitute(arts[1]["text"], 100, seed=1), delete_block(arts[2]["text"], 0.1),
              add_boilerplate(arts[3]["text"], 20), substitute(arts[4]["text"], 12, seed=4),
              delete_block(arts[5]["text"], 0.6, start=0.2), substitute(arts[6]["text"], 30, seed=6)]
    rows += [{"id": f"p{k}", "text": t, "url": None, "source": "aeb", "quality_score": 0.1,
              "crawl_date": "2023-01-01"} for k, t in enumerate(plants)]
    folder = work / "articles"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        pq.write_table(pa.Table.from_pylist(rows[i::3]), folder / f"part-{i:02d}.parquet")
    return folder


def dedup_outputs(inputs: dict[str, Path], work: Path, client: Any) -> dict[str, Any]:
    from corpus_forge.runner import run_stage
    from pipelines.dedup import DedupStage

    out: dict[str, Any] = {}
    for src_name, src in inputs.items():
        for name, opts in DEDUP_RUNS.items():
            dst = work / f"dedup-{src_name}-{name}"
            run_stage(DedupStage.from_options(opts), [str(src)], str(dst), client=client, keep_removed=True,
                      progress=False)
            kept = _concat([pq.read_table(p) for p in sorted(dst.glob("part-*.parquet"))])
            rem_files = sorted((dst / "removed").glob("part-*.parquet"))
            removed = _concat([pq.read_table(p) for p in rem_files]) if rem_files else \
                pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
            out[f"dedup/{src_name}/{name}"] = digest(kept, removed, ("dup_cluster", "dup_of"))
    return out


def outputs(work: Path, client: Any) -> dict[str, Any]:
    """The digests of every run (see the module docstring)."""
    result, extracted = extract_outputs(work)
    result.update(dedup_outputs({"samples": extracted, "articles": _planted_articles(work)}, work, client))
    return result


if __name__ == "__main__":  # regenerate the golden file
    import subprocess
    import tempfile

    from corpus_forge.cluster import get_client

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp, get_client(workers=1, quiet=True) as c:
        got = outputs(Path(tmp), c)
    Path(sys.argv[1]).write_text(json.dumps({"made_at_commit": commit, "runs": got}, indent=1) + "\n")
