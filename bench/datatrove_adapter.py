"""Overhead of our datatrove adapter (filters/datatrove_step.py) against the same step in datatrove's executor.

    .venv/bin/python bench/datatrove_adapter.py [--copies 20] [--repeats 5]

Documents: the real pages of tests/data (filter fixtures, Dolma CCNet documents, non-Latin pages), ``--copies``
times with new ids. Steps: datatrove's ``PIIFormatter``, ``C4ParagraphFilter`` and ``RegexFilter``, each timed
three ways, interleaved per repeat, in this process:

- bare: the step's own method over ``Document`` objects built beforehand (``format`` / ``filter``): the floor;
- datatrove: ``LocalPipelineExecutor(pipeline=[documents, step], tasks=1, workers=1)``, its own loop, stats and
  logging (no reader or writer: the documents are a list, as datatrove allows);
- ours: ``FilterStage.process_table`` on a pyarrow table of the same documents with ``{datatrove: ...}`` (Arrow to
  ``Document`` and back, reasons, columns, accounting).

Both sides must keep the same number of documents. Printed: median seconds and the ratios ours / datatrove and
ours / bare.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time

from _common import REPO_ROOT, add_repo_to_path, machine_line, median, print_table

add_repo_to_path()

STEPS = {
    "PIIFormatter": ("datatrove.pipeline.formatters.PIIFormatter", {}),
    "C4ParagraphFilter": ("datatrove.pipeline.filters.C4ParagraphFilter", {}),
    "RegexFilter": ("datatrove.pipeline.filters.RegexFilter", {"regex_exp": r"(?i)\bcopyright\b"}),
}


def texts() -> list[str]:
    data = REPO_ROOT / "tests" / "data"
    out = []
    for p in [data / "filters" / "langid_pages.jsonl.gz", data / "filters" / "heuristics_docs.jsonl.gz",
              data / "text" / "cc_en_head-0091.jsonl.gz", data / "text" / "cc_en_head-0174.jsonl.gz",
              data / "text" / "nonlatin.jsonl"]:
        raw = p.read_bytes()
        lines = (gzip.decompress(raw) if p.suffix == ".gz" else raw).decode().splitlines()
        out += [json.loads(line)["text"] for line in lines if line.strip()]
    return out


def build(path: str, kwargs: dict):
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def run_bare(step, docs) -> int:
    from datatrove.pipeline.filters.base_filter import BaseFilter

    if isinstance(step, BaseFilter):
        return sum(bool(step.filter(d) is True) for d in docs)
    for d in docs:
        d.text = step.format(d.text)
    return len(docs)


def run_datatrove(path: str, kwargs: dict, docs, logs: str) -> int:
    from datatrove.executor import LocalPipelineExecutor

    kept = []

    def collect(data, rank=0, world_size=1):
        for d in data:
            kept.append(d.id)
            yield d

    LocalPipelineExecutor(pipeline=[docs, build(path, kwargs), collect], tasks=1, workers=1,
                          logging_dir=f"{logs}/{time.perf_counter_ns()}", skip_completed=False).run()
    return len(kept)


def run_ours(path: str, kwargs: dict, table) -> int:
    from pipelines.filter import FilterStage

    stage = FilterStage.from_options({"filters": [{"datatrove": path, **kwargs}], "batch_rows": 4096})
    return stage.process_table(table).kept.num_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import pyarrow as pa
    from datatrove.data import Document
    from loguru import logger

    logger.remove()  # datatrove's per-task logging to stderr; its log files are still written
    base = texts()
    all_texts = [t for _ in range(args.copies) for t in base]
    ids = [f"d{i}" for i in range(len(all_texts))]
    table = pa.table({"id": ids, "text": all_texts, "url": [None] * len(ids), "source": ["bench"] * len(ids)})
    print(machine_line())
    print(f"{len(all_texts):,} documents, {sum(map(len, all_texts)) / 1e6:.1f} M characters")
    rows = []
    with tempfile.TemporaryDirectory() as logs:
        for name, (path, kwargs) in STEPS.items():
            times: dict[str, list[float]] = {"bare": [], "datatrove": [], "ours": []}
            counts = {}
            for _ in range(args.repeats):
                for side in times:
                    docs = [Document(text=t, id=i) for t, i in zip(all_texts, ids, strict=True)]
                    step = build(path, kwargs)
                    t0 = time.perf_counter()
                    if side == "bare":
                        counts[side] = run_bare(step, docs)
                    elif side == "datatrove":
                        counts[side] = run_datatrove(path, kwargs, docs, logs)
                    else:
                        counts[side] = run_ours(path, kwargs, table)
                    times[side].append(time.perf_counter() - t0)
            if counts["datatrove"] != counts["ours"]:
                print(f"MISMATCH {name}: datatrove kept {counts['datatrove']}, ours {counts['ours']}")
            med = {k: median(v) for k, v in times.items()}
            rows.append({"step": name, "kept": counts["ours"], "bare_s": med["bare"], "datatrove_s": med["datatrove"],
                         "ours_s": med["ours"], "ours/datatrove": med["ours"] / med["datatrove"],
                         "ours/bare": med["ours"] / med["bare"]})
    print_table(rows)


if __name__ == "__main__":
    main()
