"""BPE training: our ``bpe`` trainer path vs HF ``tokenizers`` BpeTrainer, same text, same vocabulary.

    .venv/bin/python bench/bpe.py [--vocab 8192,32768] [--repeats 3] [--chunk-chars 65536]

Text (real, ``../shared/data``): training = the 17 NLTK Gutenberg books, tiny-shakespeare, the 71 wtf_wikipedia
pages and the 20 Dolma CCNet documents (~9.4 MB); held-out = WikiText-2 raw test and Pride and Prejudice (the
``bpe`` evaluation text; ~2 MB). Both sides get the same documents chunked the same way (``chunk_text``), the
GPT-2 split regex, the full byte alphabet and the same vocabulary (``<|endoftext|>`` included).

- ours: ``tokenize_bpe.train_merges.train_ranks(trainer="rustbpe")`` then ``export`` (tokenizer.json + .tiktoken);
- ours, end to end: the ``bpe`` step through the runner (LocalCluster of 2 workers started beforehand) on the
  same files: read, hash-sample (all of it: ``sample_bytes`` above the total, no held-out), chunk, train,
  export, bytes/token figures — MB/s = training bytes / the step's wall time;
- HF: ``tokenizers`` BpeTrainer (``initial_alphabet=ByteLevel.alphabet()``, ``min_frequency=0``) on a
  Split(regex) + ByteLevel pre-tokenizer — the reference the issue names.

Each run is a fresh subprocess (so peak RSS is the run's own); runs alternate ours/HF. Reported: median MB/s
(training bytes / wall seconds, export included for ours), peak RSS, held-out bytes per token (both encode
with their own tokenizer.json through HF), and the ratios. Target: ours >= 2x HF's MB/s with held-out
bytes/token within 0.5%.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, SHARED_DATA, add_repo_to_path, machine_line, median, print_table

add_repo_to_path()


def _read(path: Path) -> str:
    raw = path.read_bytes()
    return (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8", errors="replace")


def training_docs() -> list[str]:
    docs = [_read(p) for p in sorted((SHARED_DATA / "text" / "gutenberg_nltk").glob("*.txt.gz"))]
    docs.append(_read(SHARED_DATA / "text" / "tinyshakespeare" / "input.txt"))
    docs += [_read(p) for p in sorted((SHARED_DATA / "wikipedia" / "wtf_wikipedia_wikitext").glob("*.txt.gz"))]
    for p in sorted((SHARED_DATA / "commoncrawl_text" / "dolma_ccnet").glob("*.jsonl.gz")):
        docs += [json.loads(x)["text"] for x in _read(p).splitlines() if x.strip()]
    return docs


def heldout_docs() -> list[str]:
    from tokenize_bpe.encode import read_eval_text

    return [_read(SHARED_DATA / "wikipedia" / "wikitext2_raw_test" / "wikitext-2-raw-test.txt.gz"), read_eval_text()]


def one_run(trainer: str, vocab: int, chunk_chars: int) -> dict:
    """Train once in this process; print a JSON line with seconds, bytes, peak RSS and held-out bytes/token."""
    from tokenizers import Tokenizer

    from tokenize_bpe.export import export
    from tokenize_bpe.train_merges import GPT2_PATTERN, chunk_text, train_ranks

    docs = training_docs()
    chunks = [c for d in docs for c in chunk_text(d, chunk_chars)]
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    out = Path(tempfile.mkdtemp(prefix=f"cf_bench_bpe_{trainer}_"))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if trainer == "ours":
        export(train_ranks(chunks, vocab, "gpt2", "rustbpe"), GPT2_PATTERN, out)
        tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    else:
        from tokenizers import Regex, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(GPT2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tr = trainers.BpeTrainer(vocab_size=vocab, min_frequency=0, show_progress=False,
                                 special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(chunks, tr)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    held = heldout_docs()
    pieces = [c for d in held for c in chunk_text(d, chunk_chars)]
    n_tok = sum(len(e.ids) for e in tok.encode_batch(pieces, add_special_tokens=False))
    return {"trainer": trainer, "vocab": tok.get_vocab_size(), "seconds": seconds, "bytes": nbytes,
            "peak_rss_mb": rss / 1024, "rss_before_mb": rss0 / 1024,
            "heldout_bytes_per_token": sum(len(d.encode()) for d in held) / n_tok}


def stage_runs(vocabs: list[int], repeats: int) -> list[dict]:
    """The ``bpe`` step end to end on the training files, ``repeats`` times per vocabulary."""
    import shutil

    from corpus_forge.cluster import get_client
    from corpus_forge.runner import run_stage
    from tokenize_bpe.bpe import BpeStage

    inputs = [str(SHARED_DATA / "text" / "gutenberg_nltk"), str(SHARED_DATA / "text" / "tinyshakespeare"),
              str(SHARED_DATA / "wikipedia" / "wtf_wikipedia_wikitext"), str(SHARED_DATA / "commoncrawl_text")]
    rows = []
    with get_client(workers=2, quiet=True) as client:
        for vocab in vocabs:
            for r in range(repeats):
                out = Path(tempfile.mkdtemp(prefix="cf_bench_bpe_stage_")) / f"v{vocab}-{r}"
                stage = BpeStage.from_options({"vocab_size": vocab, "sample_bytes": 1 << 30, "heldout_bytes": 0})
                st = run_stage(stage, inputs, str(out), client=client, progress=False)
                rows.append({"vocab": vocab, "bytes": st["training_bytes"], "seconds": st["seconds"]})
                shutil.rmtree(out.parent)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", default="8192,32768")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-chars", type=int, default=1 << 16)
    ap.add_argument("--one", nargs=2, metavar=("TRAINER", "VOCAB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one[0], int(args.one[1]), args.chunk_chars)))
        return
    print(machine_line())
    results: dict[tuple[str, int], list[dict]] = {}
    for vocab in [int(v) for v in args.vocab.split(",")]:
        for _ in range(args.repeats):
            for trainer in ("ours", "hf"):
                proc = subprocess.run([sys.executable, __file__, "--one", trainer, str(vocab),
                                       "--chunk-chars", str(args.chunk_chars)],
                                      capture_output=True, text=True, cwd=REPO_ROOT, check=True)
                results.setdefault((trainer, vocab), []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
    vocabs = [int(v) for v in args.vocab.split(",")]
    stage = stage_runs(vocabs, args.repeats)
    rows = []
    for vocab in vocabs:
        runs = [r for r in stage if r["vocab"] == vocab]
        rows.append({"vocab": vocab, "trainer": "ours, bpe step end to end", "MB": runs[0]["bytes"] / 1e6,
                     "median_s": median(r["seconds"] for r in runs),
                     "MB_per_s": median(r["bytes"] / 1e6 / r["seconds"] for r in runs),
                     "peak_rss_MB": None, "heldout_bytes_per_token": None})
    for (trainer, vocab), runs in results.items():
        rows.append({"vocab": vocab, "trainer": trainer,
                     "MB": runs[0]["bytes"] / 1e6,
                     "median_s": median(r["seconds"] for r in runs),
                     "MB_per_s": median(r["bytes"] / 1e6 / r["seconds"] for r in runs),
                     "peak_rss_MB": median(r["peak_rss_mb"] for r in runs),
                     "heldout_bytes_per_token": median(r["heldout_bytes_per_token"] for r in runs)})
    print_table(rows)
    for vocab in sorted({r["vocab"] for r in rows}):
        ours = next(r for r in rows if r["vocab"] == vocab and r["trainer"] == "ours")
        hf = next(r for r in rows if r["vocab"] == vocab and r["trainer"] == "hf")
        speed = ours["MB_per_s"] / hf["MB_per_s"]
        bpt = ours["heldout_bytes_per_token"] / hf["heldout_bytes_per_token"] - 1
        step = next(r for r in rows if r["vocab"] == vocab and r["trainer"].startswith("ours, bpe step"))
        print(f"vocab {vocab}: ours/HF MB/s = {speed:.2f}x (target >= 2x; the whole bpe step: "
              f"{step['MB_per_s'] / hf['MB_per_s']:.2f}x), held-out bytes/token {bpt:+.3%} (target within 0.5%), "
              f"peak RSS ours/HF = {ours['peak_rss_MB'] / hf['peak_rss_MB']:.2f}x")


if __name__ == "__main__":
    main()
