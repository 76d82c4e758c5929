"""Our ``decontaminate`` stage vs datatrove's n-gram decontamination, on the same documents and benchmarks.

    .venv/bin/python bench/decontaminate.py [--docs 1500] [--plant 150] [--repeats 3] [--workers 2] [--files 4]

Documents: the gold main text of the real pages in ``../shared/data/web_extraction`` (AEB, DragNet,
page-signal, CleanEval, CleanPortalEval: 2,993 pages), shuffled with a fixed seed; the first ``--docs``
are used and ``--plant`` of them get one benchmark item pasted into the middle (round robin over GSM8K
question + answer, HumanEval prompt + solution, HellaSwag context + gold ending), so both sides have
known positives. Benchmarks: the three sets we bundle, 13-grams on both sides.

datatrove's ``NGramsDecontIndexer`` only reads tasks through lighteval (Hugging Face hub) and refuses to
start without it installed. Its index is just one ``<task>.index.hashes`` file of uint64 n-gram hashes
per task, which its ``NGramsDecontFilter`` loads from a folder; we write those files directly with the
indexer's own ``compute_hashes`` (called on a stand-in ``self`` holding its config, spaCy word tokenizer and
hash function), so the hashes are exactly what datatrove would compute: label (answer) n-grams, query
(question) n-grams (``find_query_ngrams=True``, as we index questions too) and query/label overlap
n-grams, after datatrove's text normalization.

Measured, per repeat, interleaved:

- kernel (one process, no I/O): our ``DecontaminateStage.process_table`` on the whole table vs a loop of
  ``NGramsDecontFilter.filter(Document)`` (datatrove's per-document unit);
- end to end with ``--workers`` processes from Parquet files to Parquet files: our ``run_stage`` (Dask
  LocalCluster; the n-gram index built once and broadcast) vs datatrove's ``LocalPipelineExecutor``
  ([ParquetReader, NGramsDecontFilter, ParquetWriter], one task per file; each task loads the index);
- memory of the n-gram set: our index arrays (and their pickled size, what is shipped to workers) vs the
  Python ``dict`` datatrove's filter builds (``tracemalloc``), and a plain Python ``set`` of the same hashes.

Detection is reported too: planted documents found and clean documents touched, per side, and our
false-positive rate on all 2,993 clean pages with all five benchmarks (TruthfulQA and OpenBookQA by path).
Note that
datatrove drops every touched document, we excise (GPT-3) by default. Peer-only package: ``spacy``.
datatrove pins ``xxhash<4`` and its xxhash64 raises on str with xxhash 4 (what we install): the bench
swaps in the xxhash-3 behaviour (hash the UTF-8 bytes), which is what datatrove computes with its pin.
The machine is shared (2 cores, other jobs running): compare medians and the ratio, not absolute numbers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import random
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

from _common import WEB_EXTRACTION, add_repo_to_path, machine_line, median, print_table

add_repo_to_path()

BENCHMARKS = ("gsm8k", "humaneval", "hellaswag")


def _read(path: Path) -> str:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def clean_pages() -> list[str]:
    """Gold main text of every real page with one (2,993 pages)."""
    w = WEB_EXTRACTION
    texts = [v["articleBody"] for v in json.loads((w / "scrapinghub_aeb/ground-truth.json").read_text()).values()]
    for pattern in ("dragnet/gold/*", "page_signal_googlenews/gold/*", "cleaneval/*/gold/*", "cleanportaleval/gold/*"):
        texts += [_read(p) for p in sorted(w.glob(pattern))]
    return [t for t in texts if t.strip()]


def false_positives() -> list[dict]:
    """Our stage with all five benchmarks on every clean page: documents touched per benchmark."""
    import pyarrow as pa

    from pipelines.decontaminate import DecontaminateStage

    b = WEB_EXTRACTION.parent / "benchmarks"
    stage = DecontaminateStage(benchmarks=[*BENCHMARKS, f"truthfulqa={b / 'truthfulqa/TruthfulQA.csv'}",
                                           f"openbookqa={b / 'openbookqa/openbookqa_test.jsonl'}"])
    texts = clean_pages()
    res = stage.process_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts,
                                        "url": [None] * len(texts), "source": ["bench"] * len(texts)}))
    res.counters.check()
    return [{"benchmark": k, "clean pages": len(texts), "touched": v["documents_touched"],
             "rate": v["documents_touched"] / len(texts)} for k, v in res.counters.extra["contamination"].items()]


def query_label_pairs() -> dict[str, list[tuple[str, str]]]:
    """(query, label) per test item, from the bundled files: what datatrove's indexer takes."""
    from filters.support.benchmarks import REGISTRY, _bundled, _jsonl

    rows = {name: list(_jsonl(_bundled(REGISTRY[name].bundled), name)) for name in BENCHMARKS}
    return {
        "gsm8k": [(r["question"], r["answer"]) for r in rows["gsm8k"]],
        "humaneval": [(r["prompt"], r["canonical_solution"]) for r in rows["humaneval"]],
        "hellaswag": [(r["ctx"], r["gold"]) for r in rows["hellaswag"]],
    }


def make_documents(n_docs: int, n_plant: int, pairs) -> tuple[list[str], set[int]]:
    texts = clean_pages()
    random.Random(0).shuffle(texts)
    texts = texts[:n_docs]
    planted = set()
    for i in range(min(n_plant, len(texts))):
        name = BENCHMARKS[i % 3]
        q, a = pairs[name][(i * 37) % len(pairs[name])]
        item = f"{q}\n{a}" if name != "hellaswag" else f"{q} {a}"
        page = texts[i]
        at = page.find(" ", len(page) // 2)
        at = at if at > 0 else len(page)
        texts[i] = f"{page[:at]}\n\n{item}\n\n{page[at:]}"
        planted.add(i)
    return texts, planted


def write_inputs(folder: Path, texts: list[str], files: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = folder / "input"
    src.mkdir(parents=True)
    table = pa.table({"id": [f"d{i:06d}" for i in range(len(texts))], "text": texts,
                      "url": [None] * len(texts), "source": ["bench"] * len(texts)})
    per = -(-len(texts) // files)
    for k in range(files):
        pq.write_table(table.slice(k * per, per), src / f"part-{k:05d}.parquet")
    return src


# ------------------------------------------------------------------------------------------ datatrove


def _xxh64(data: str | bytes) -> int:
    """datatrove's ``xxhash64`` as it behaves with xxhash 3 (which hashed a str as its UTF-8 bytes)."""
    import xxhash

    return xxhash.xxh64_intdigest(data.encode("utf-8") if isinstance(data, str) else data)


def patch_datatrove_xxhash() -> None:
    """datatrove pins ``xxhash<4``; with xxhash 4 (ours) its str hashing raises, so restore 3's behaviour."""
    import datatrove.utils.hashes.xxhash as dx

    try:
        dx.xxhash64("probe")
    except TypeError:
        dx.xxhash64 = _xxh64


def datatrove_config():
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig

    return NGramsDecontConfig(n_grams=13, find_query_ngrams=True, find_overlap_ngrams=True)


def build_datatrove_index(folder: Path, pairs) -> float:
    """Write ``<task>.index.hashes`` with datatrove's own hashing; return the seconds it took."""
    import numpy as np
    from datatrove.pipeline.decont.n_grams import NGramsDecontIndexer
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    cfg = datatrove_config()
    fake_self = SimpleNamespace(config=cfg, tokenizer=load_word_tokenizer("en"),
                                hash_func=create_hash_func(cfg.hash_config))
    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for task, items in pairs.items():
        hashes: set[int] = set()
        for query, label in items:
            hashes.update(NGramsDecontIndexer.compute_hashes(fake_self, label, query))
        np.array(sorted(hashes), dtype=cfg.hash_config.np_descr).tofile(folder / f"{task}.index.hashes")
    return time.perf_counter() - t0


def datatrove_filter(index: Path):
    from datatrove.pipeline.decont.n_grams import NGramsDecontFilter

    return NGramsDecontFilter(str(index), config=datatrove_config())


def datatrove_kernel(index: Path, texts: list[str]) -> tuple[float, set[int]]:
    from datatrove.data import Document

    f = datatrove_filter(index)
    f.load_index_hashes()
    f.filter(Document(text="warm up the tokenizer", id="w"))
    t0 = time.perf_counter()
    flagged = {i for i, t in enumerate(texts) if f.filter(Document(text=t, id=str(i))) is not True}
    return time.perf_counter() - t0, flagged


def datatrove_pipeline(index: Path, src: Path, work: Path, files: int, workers: int) -> float:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    out = work / "dt_out"
    logs = work / "dt_logs"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)
    ex = LocalPipelineExecutor(
        [ParquetReader(str(src), glob_pattern="*.parquet"), datatrove_filter(index), ParquetWriter(str(out))],
        tasks=files, workers=workers, logging_dir=str(logs),
    )
    t0 = time.perf_counter()
    ex.run()
    return time.perf_counter() - t0


def datatrove_index_memory(index: Path) -> int:
    f = datatrove_filter(index)
    tracemalloc.start()
    f.load_index_hashes()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size


# ------------------------------------------------------------------------------------------------ ours


def ours_kernel(stage, ctx, table) -> tuple[float, set[int]]:
    t0 = time.perf_counter()
    res = stage.process_table(table, ctx)
    dt = time.perf_counter() - t0
    res.counters.check()
    out = res.kept.to_pylist() + res.removed.to_pylist()
    return dt, {int(r["id"][1:]) for r in out if r["decontam_benchmarks"]}


def ours_pipeline(src: Path, work: Path, workers: int) -> tuple[float, dict]:
    from corpus_forge.runner import run_stage
    from pipelines.decontaminate import DecontaminateStage

    out = work / "cf_out"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    stats = run_stage(DecontaminateStage(), [str(src)], str(out), workers=workers, progress=False)
    return time.perf_counter() - t0, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--plant", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--no-pipeline", action="store_true", help="kernel and memory only")
    args = ap.parse_args()

    import numpy as np
    import pyarrow as pa

    from pipelines.decontaminate import DecontaminateStage

    print(machine_line())
    import datatrove.utils.logging  # noqa: F401 - adds datatrove's log sink; replaced just below
    from loguru import logger  # datatrove's logging: keep warnings, drop its per-task stats tables

    logger.remove()
    logger.add(lambda m: print(m, end=""), level="WARNING")
    patch_datatrove_xxhash()
    pairs = query_label_pairs()
    texts, planted = make_documents(args.docs, args.plant, pairs)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} documents ({mb:.1f} MB of text), {len(planted)} with a planted test item")
    work = Path(tempfile.mkdtemp(prefix="cf_bench_decontam_"))
    try:
        index = work / "dt_index"
        dt_build = build_datatrove_index(index, pairs)
        t0 = time.perf_counter()
        stage = DecontaminateStage()
        ctx = stage.prepare([])
        cf_build = time.perf_counter() - t0
        table = pa.table({"id": [f"d{i:06d}" for i in range(len(texts))], "text": texts,
                          "url": [None] * len(texts), "source": ["bench"] * len(texts)})
        src = write_inputs(work, texts, args.files)

        # memory of the n-gram sets
        dt_mem = datatrove_index_memory(index)
        all_hashes = np.concatenate([np.fromfile(p, dtype=np.uint64) for p in sorted(index.glob("*.hashes"))])
        tracemalloc.start()
        py_set = set(ctx.index.hashes.keys.tolist())
        set_mem = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del py_set
        ours_mem = ctx.index.nbytes
        ours_pickled = len(pickle.dumps(ctx, protocol=5))

        k_ours, k_dt, p_ours, p_dt = [], [], [], []
        found_ours = found_dt = set()
        stats: dict = {}
        for r in range(args.repeats):
            dt, found_ours = ours_kernel(stage, ctx, table)
            k_ours.append(dt)
            dt, found_dt = datatrove_kernel(index, texts)
            k_dt.append(dt)
            if not args.no_pipeline:
                dt, stats = ours_pipeline(src, work, args.workers)
                p_ours.append(dt)
                p_dt.append(datatrove_pipeline(index, src, work, args.files, args.workers))
            print(f"repeat {r + 1}: kernel ours {k_ours[-1]:.2f}s datatrove {k_dt[-1]:.2f}s"
                  + (f"; pipeline ours {p_ours[-1]:.2f}s datatrove {p_dt[-1]:.2f}s" if p_ours else ""), flush=True)

        n = len(texts)
        rows = [
            {"measure": "kernel, 1 process (docs/s)", "ours": n / median(k_ours), "datatrove": n / median(k_dt),
             "ratio": median(k_dt) / median(k_ours)},
        ]
        if p_ours:
            rows.append({"measure": f"end to end, {args.workers} workers (docs/s)", "ours": n / median(p_ours),
                         "datatrove": n / median(p_dt), "ratio": median(p_dt) / median(p_ours)})
        rows += [
            {"measure": "index build (s)", "ours": cf_build, "datatrove": dt_build, "ratio": dt_build / cf_build},
            {"measure": "n-gram set (MiB in memory)", "ours": ours_mem / 2**20, "datatrove": dt_mem / 2**20,
             "ratio": dt_mem / ours_mem},
        ]
        print()
        print(f"medians over {args.repeats} repeats; ratio = datatrove time (or memory) / ours")
        print_table(rows, ["measure", "ours", "datatrove", "ratio"], floatfmt=".2f")
        print(f"\nn-gram hashes: ours {len(ctx.index):,} keys (13-grams of question, question+answer),"
              f" datatrove {len(all_hashes):,} (label, query and overlap 13-grams, numbers normalised)")
        print(f"ours shipped to each worker once: {ours_pickled / 2**20:.1f} MiB pickled; the same keys as a "
              f"Python set: {set_mem / 2**20:.1f} MiB")
        clean = set(range(n)) - planted
        for name, found in (("ours", found_ours), ("datatrove", found_dt)):
            print(f"{name:>9}: planted found {len(found & planted)}/{len(planted)}, "
                  f"clean documents touched {len(found & clean)}/{len(clean)}")
        if stats:
            print("ours, end to end: contamination report",
                  {k: (v["items_found"], v["documents_touched"]) for k, v in stats["contamination"].items()},
                  "(items found, documents touched)")
        print("\nfalse positives: our stage, all five benchmarks, every clean page (no planted items)")
        print_table(false_positives(), floatfmt=".4f")
        print(machine_line())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
