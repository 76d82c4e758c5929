"""Pack throughput per output format: llm.c shards vs Megatron's indexed dataset vs nanoGPT's train.bin.

    .venv/bin/python bench/pack_formats.py [--vocab 32768] [--copies 2] [--files 4] [--workers 2] [--repeats 3]

The documents and tokenizer of ``bench/pack.py`` (real text from ``../shared/data``, ``--copies`` times, in
``--files`` JSONL files). Per repeat, interleaved, for each ``--format``:

- end to end: ``PackStage`` through the runner on one LocalCluster (read, tokenize, plan, write, manifest);
- write phase: the same pack into a fresh folder that already holds the tokenized partitions (``_parts`` and
  ``_work/pack_tokens`` copied from the end-to-end run), so only the plan and the files of the format are done.

Every format must hold the same tokens. Printed: median seconds, tokens/s and each format's ratio to llm.c's.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from _common import add_repo_to_path, machine_line, median, print_table

add_repo_to_path()

from pack import corpus_and_tokenizer, corpus_arguments  # noqa: E402  (bench/ is on sys.path)

FORMATS = ("llmc", "megatron", "nanogpt")


def pack(out: Path, mix: Path, tok: Path, fmt: str, client) -> tuple[float, int]:
    from corpus_forge.runner import run_stage
    from tokenize_bpe.pack import PackStage

    t0 = time.perf_counter()
    run_stage(PackStage.from_options({"tokenizer": str(tok), "mix": str(mix), "format": fmt}), [], str(out),
              client=client, progress=False)
    seconds = time.perf_counter() - t0
    m = json.loads((out / "all" / "manifest.json").read_text())
    return seconds, m["train_tokens"] + m["val_tokens"]


def main() -> None:
    ap = corpus_arguments("/tmp/cf_bench_pack_formats")
    ap.description = __doc__
    ap.add_argument("--shard-tokens", type=int, default=1_000_000)
    args = ap.parse_args()
    import yaml

    from corpus_forge.cluster import get_client

    work, docs, tok = corpus_and_tokenizer(args)
    mix = work / "mix.yaml"
    mix.write_text(yaml.safe_dump({"seed": 0, "shard_tokens": args.shard_tokens, "mixes": {"all": {
        "val_fraction": 0.01, "sources": [{"path": str(work / "docs")}]}}}))
    print(machine_line())
    print(f"{len(docs):,} documents, {sum(len(t.encode()) for _, t in docs) / 1e6:.1f} MB in {args.files} JSONL "
          f"files; vocab {args.vocab}; {args.shard_tokens:,} tokens per shard / piece; {args.workers} workers")
    e2e: dict[str, list[tuple[float, int]]] = {f: [] for f in FORMATS}
    write: dict[str, list[tuple[float, int]]] = {f: [] for f in FORMATS}
    with get_client(workers=args.workers, quiet=True) as client:
        for r in range(args.repeats):
            for fmt in FORMATS:
                out = work / f"{fmt}-{r}"
                e2e[fmt].append(pack(out, mix, tok, fmt, client))
                again = work / f"{fmt}-{r}-write"
                shutil.copytree(out / "_parts", again / "_parts")
                shutil.copytree(out / "_work" / "pack_tokens", again / "_work" / "pack_tokens")
                write[fmt].append(pack(again, mix, tok, fmt, client))
                shutil.rmtree(out)
                shutil.rmtree(again)
    rows = []
    for phase, runs in (("end to end", e2e), ("write phase", write)):
        base = median(n / s for s, n in runs["llmc"])
        for fmt in FORMATS:
            rate = median(n / s for s, n in runs[fmt])
            rows.append({"phase": phase, "format": fmt, "tokens": runs[fmt][0][1],
                         "same_tokens": all(n == runs["llmc"][0][1] for _, n in runs[fmt]),
                         "median_s": median(s for s, _ in runs[fmt]), "M_tok_per_s": rate / 1e6,
                         "vs_llmc": rate / base})
    print_table(rows)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
