"""Packing throughput: our ``pack`` end to end vs datatrove's ``DocumentTokenizer`` vs raw HF ``encode_batch``.

    .venv/bin/python bench/pack.py [--vocab 32768] [--copies 2] [--files 4] [--workers 2] [--repeats 3]

Documents (real, ``../shared/data``): the 17 NLTK Gutenberg books, tiny-shakespeare and WikiText-2 (raw test) cut
into ~8,000-character documents at newlines, the 71 wtf_wikipedia pages and the 20 Dolma CCNet documents; the
whole set ``--copies`` times (new ids per copy), round-robin into ``--files`` JSONL files. The tokenizer is
trained once by our trainer at ``--vocab`` on the Gutenberg books. Interleaved per repeat:

- ours: ``PackStage`` through the runner on a LocalCluster of ``--workers`` single-threaded processes (started
  once before timing; its start-up is printed): read, tokenize (tiktoken, checked equal to tokenizer.json),
  plan (val split by id, shuffle by (seed, id)), write llm.c shards + .idx, sha256 each, manifest;
- datatrove: ``JsonlReader`` + ``DocumentTokenizer`` (HF tokenizers on the same tokenizer.json, EOS appended,
  its per-file document shuffle) under ``LocalPipelineExecutor(tasks=--files, workers=--workers)``;
- raw HF: ``Tokenizer.encode_batch`` on all texts in this process (rayon threads on the same cores), no I/O.

Every side must produce the same number of tokens (documents + their ids), and tiktoken's ids must equal HF's
on every document (mismatches printed). Reported: median tokens/s and the ratios. Targets: ours >= 2x datatrove
and >= 1.3x raw HF encode_batch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from _common import SHARED_DATA, add_repo_to_path, machine_line, median, print_table

add_repo_to_path()

from bpe import _read  # noqa: E402  (bench/ is on sys.path)


def documents(copies: int) -> list[tuple[str, str]]:
    from tokenize_bpe.train_merges import chunk_text

    base: list[tuple[str, str]] = []
    long = sorted((SHARED_DATA / "text" / "gutenberg_nltk").glob("*.txt.gz"))
    long += [SHARED_DATA / "text" / "tinyshakespeare" / "input.txt",
             SHARED_DATA / "wikipedia" / "wikitext2_raw_test" / "wikitext-2-raw-test.txt.gz"]
    for p in long:
        base += [(f"{p.name}#{i}", c) for i, c in enumerate(chunk_text(_read(p), 8000))]
    base += [(p.name, _read(p)) for p in sorted((SHARED_DATA / "wikipedia" / "wtf_wikipedia_wikitext").glob("*.gz"))]
    for p in sorted((SHARED_DATA / "commoncrawl_text" / "dolma_ccnet").glob("*.jsonl.gz")):
        base += [(r["id"], r["text"]) for r in map(json.loads, _read(p).splitlines()) if r["text"].strip()]
    return [(f"{c}:{i}", t) for c in range(copies) for i, t in base]


def write_jsonl(docs: list[tuple[str, str]], folder: Path, files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    outs = [open(folder / f"docs-{k:02d}.jsonl", "w", encoding="utf-8") for k in range(files)]
    for n, (i, t) in enumerate(docs):
        outs[n % files].write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
    for f in outs:
        f.close()


def run_ours(work: Path, docs_dir: Path, tok: Path, client, r: int) -> tuple[float, int]:
    import yaml

    from corpus_forge.runner import run_stage
    from tokenize_bpe.pack import PackStage

    mix = work / "mix.yaml"
    mix.write_text(yaml.safe_dump({"seed": 0, "shard_tokens": 1_000_000, "mixes": {"all": {
        "val_fraction": 0.01, "sources": [{"path": str(docs_dir)}]}}}))
    out = work / f"ours-{r}"
    t0 = time.perf_counter()
    run_stage(PackStage.from_options({"tokenizer": str(tok), "mix": str(mix)}), [], str(out), client=client,
              progress=False)
    seconds = time.perf_counter() - t0
    m = json.loads((out / "all" / "manifest.json").read_text())
    shutil.rmtree(out)
    return seconds, m["train_tokens"] + m["val_tokens"]


def run_datatrove(work: Path, docs_dir: Path, tok: Path, files: int, workers: int, r: int,
                  token_bytes: int) -> tuple[float, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import DocumentTokenizer

    out, logs = work / f"dt-{r}", work / f"dt-logs-{r}"
    ex = LocalPipelineExecutor(pipeline=[
        JsonlReader(str(docs_dir), glob_pattern="*.jsonl", compression=None),
        DocumentTokenizer(str(out), tokenizer_name_or_path=str(tok / "tokenizer.json"), eos_token="<|endoftext|>",
                          seed=0, local_working_dir=str(work / f"dt-tmp-{r}")),
    ], tasks=files, workers=workers, logging_dir=str(logs))
    t0 = time.perf_counter()
    ex.run()
    seconds = time.perf_counter() - t0
    tokens = sum(os.path.getsize(p) for p in out.glob("*.ds")) // token_bytes
    for d in (out, logs, work / f"dt-tmp-{r}"):
        shutil.rmtree(d, ignore_errors=True)
    return seconds, tokens


def corpus_arguments(work: str) -> argparse.ArgumentParser:
    """The options of the pack benchmarks (this one and pack_formats.py): corpus size, vocabulary, workers."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default=work)
    return ap


def corpus_and_tokenizer(args: argparse.Namespace) -> tuple[Path, list[tuple[str, str]], Path]:
    """A fresh ``args.work`` with the documents as JSONL in ``docs/`` and a ``args.vocab`` BPE trained on the
    Gutenberg books in ``tokenizer/``: (work, documents, tokenizer dir)."""
    from tokenize_bpe.export import export
    from tokenize_bpe.train_merges import GPT2_PATTERN, chunk_text, train_ranks

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    docs = documents(args.copies)
    write_jsonl(docs, work / "docs", args.files)
    books = [_read(p) for p in sorted((SHARED_DATA / "text" / "gutenberg_nltk").glob("*.txt.gz"))]
    tok = work / "tokenizer"
    export(train_ranks([c for b in books for c in chunk_text(b, 1 << 16)], args.vocab, "gpt2"), GPT2_PATTERN, tok)
    return work, docs, tok


def main() -> None:
    ap = corpus_arguments("/tmp/cf_bench_pack")
    args = ap.parse_args()

    from tokenizers import Tokenizer

    from corpus_forge.cluster import get_client
    from tokenize_bpe.encode import load_encoder

    work, docs, tok = corpus_and_tokenizer(args)
    docs_dir = work / "docs"
    texts = [t for _, t in docs]
    print(machine_line())
    print(f"{len(docs):,} documents, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB in {args.files} JSONL files; "
          f"vocab {args.vocab}")

    hf = Tokenizer.from_file(str(tok / "tokenizer.json"))
    hf.encode_special_tokens = True
    enc = load_encoder(str(tok))
    hf_ids = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    tk_ids = enc.impl.encode_ordinary_batch(texts, num_threads=args.workers)
    mismatches = sum(a != b for a, b in zip(hf_ids, tk_ids, strict=True))
    expected = sum(map(len, hf_ids)) + len(texts)  # ids + one <|endoftext|> per document
    print(f"encoder used by pack: {enc.kind}; tiktoken vs HF: {mismatches} of {len(texts):,} documents differ")

    rows: dict[str, list[tuple[float, int]]] = {"ours (pack, end to end)": [], "datatrove DocumentTokenizer": [],
                                                 "raw HF encode_batch": [], "raw tiktoken batch (reference)": []}
    t0 = time.perf_counter()
    with get_client(workers=args.workers, quiet=True) as client:
        print(f"LocalCluster start-up ({args.workers} workers), not counted: {time.perf_counter() - t0:.1f} s")
        for r in range(args.repeats):
            rows["ours (pack, end to end)"].append(run_ours(work, docs_dir, tok, client, r))
            rows["datatrove DocumentTokenizer"].append(run_datatrove(work, docs_dir, tok, args.files,
                                                                     args.workers, r, 2 if args.vocab <= 65536 else 4))
            t = time.perf_counter()
            n = sum(len(e.ids) for e in hf.encode_batch(texts, add_special_tokens=False)) + len(texts)
            rows["raw HF encode_batch"].append((time.perf_counter() - t, n))
            t = time.perf_counter()
            n = sum(map(len, enc.impl.encode_ordinary_batch(texts, num_threads=args.workers))) + len(texts)
            rows["raw tiktoken batch (reference)"].append((time.perf_counter() - t, n))
    table = [{"what": k, "tokens": v[0][1], "same_tokens": all(n == expected for _, n in v),
              "median_s": median(s for s, _ in v), "M_tok_per_s": median(n / s / 1e6 for s, n in v)}
             for k, v in rows.items()]
    print_table(table)
    ours, dt, hfr = (table[i]["M_tok_per_s"] for i in range(3))
    print(f"ours / datatrove = {ours / dt:.2f}x (target >= 2x); ours / raw HF encode_batch = {ours / hfr:.2f}x "
          f"(target >= 1.3x); datatrove / raw HF = {dt / hfr:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
