"""``corpus-forge wikiref``: a Wikipedia reference n-gram set for decontamination, built in parallel, saved.

    corpus-forge wikiref enwiki-pages-articles.xml.bz2 --out wikiref/ [--shards 8]
    corpus-forge decontaminate docs/ --out clean/ --wikipedia-reference wikiref/

Stripping wikitext is the expensive part of a reference (plain Python, a few MB/s). Each input file is read
by ``shards`` tasks; task i strips and hashes pages i, i + shards, ... (every task still decompresses and
parses the XML, which costs a fraction of the stripping), so ``shards`` workers build one file's reference
about ``shards`` times faster. Each task saves its sorted unique hashes under ``OUT/_work``; the last phase, one
task on a worker, merges them streaming (:func:`merge_sorted_sets`, 64 MiB of keys at a time) into
``OUT/reference.npy`` (the format ``decontaminate`` memory-maps) and ``OUT/reference.json`` (n-gram size,
sampling and counts: ``decontaminate`` checks they match its own options).

Inputs: MediaWiki XML exports (``.xml``, ``.xml.bz2``, ...), or text, JSONL or Parquet files of articles.
``documents_in`` counts pages (texts) read; removed: ``redirect``, ``other_namespace``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from corpus_forge.config import StageConfig
from corpus_forge.io import (
    atomic_path,
    drop_local_copies,
    expand_inputs,
    local_file,
    path_key,
    read_json,
    save_npy,
    url_to_fs,
    write_json_atomic,
)
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters
from filters.support.ngrams import sorted_unique, window_hashes, word_bytes, word_hashes
from filters.wikipedia import WIKI_NGRAM, iter_reference_texts

REFERENCE_FILE = "reference.npy"
INFO_FILE = "reference.json"


class WikirefConfig(StageConfig):
    """Options of the ``wikiref`` step (keys as in a recipe's ``wikiref:`` block)."""

    ngram: int = Field(WIKI_NGRAM, ge=1, le=64, description="words per n-gram (GPT-2/GPT-3: 13)")
    sample: int = Field(1, ge=1, description="keep 1 in N n-grams (by hash) to bound memory for whole dumps")
    markup: str = Field("regex", pattern="^(regex|mwparserfromhell)$", description="wikitext stripper")
    shards: int = Field(2, ge=1, le=1024, description="tasks per input file (set it to your worker count)")


@dataclass(frozen=True)
class WikirefContext:
    """Broadcast to every shard task: where its sorted n-gram hashes go."""

    hashes_dir: str


class WikirefStage(Stage):
    """Reference n-grams of Wikipedia dumps or texts: ``shards`` tasks per file, merged into one saved set."""

    name = "wikiref"
    Config = WikirefConfig
    help = "build a Wikipedia reference n-gram set for decontamination (in parallel; saved for reuse)"
    writes_documents = False
    inputs_metavar = "REFERENCE"
    inputs_help = "MediaWiki XML dumps (.xml, .xml.bz2, ...) or text/JSONL/Parquet files of articles"

    def partitions(self, inputs: list[str]) -> list[Partition]:
        k = self.config.shards
        return [Partition(key=f"{path_key(f)}-{i:04d}of{k:04d}", path=f, meta={"shard": (i, k)})
                for f in expand_inputs(inputs) for i in range(k)]

    def prepare(self, partitions: list[Partition], run: RunContext) -> WikirefContext:
        return WikirefContext(os.path.join(run.work_dir, "hashes"))

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        cfg = self.config
        skipped: dict[str, int] = {}
        parts: list[np.ndarray] = []
        texts = 0
        for text in iter_reference_texts(part.path, cfg.markup, shard=part.meta["shard"], skipped=skipped):
            texts += 1
            h = window_hashes(word_hashes(word_bytes(text)), cfg.ngram)
            parts.append(h if cfg.sample <= 1 else h[h % np.uint64(cfg.sample) == 0])
            if len(parts) > 4096:
                parts = [sorted_unique(np.concatenate(parts))]
        keys = sorted_unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
        save_npy(os.path.join(ctx.hashes_dir, f"{part.key}.npy"), keys)
        c = Counters(documents_in=texts + sum(skipped.values()), documents_out=texts)
        for why, n in skipped.items():
            c.remove(why, n)
        return PartitionResult(None, None, c)

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        hashes = os.path.join(run.work_dir, "hashes")
        shards = [os.path.join(hashes, f"{m['key']}.npy") for m in sorted(markers, key=lambda m: m["key"])]
        out = os.path.join(run.out_dir, REFERENCE_FILE)
        # on a worker, streaming: neither the client nor the merging task holds the reference
        n = run.client.submit(merge_sorted_sets, shards, out, pure=False).result()
        info = {"ngram": self.config.ngram, "sample": self.config.sample, "markup": self.config.markup,
                "ngrams": n, "texts": counters.documents_out}
        write_json_atomic(info, os.path.join(run.out_dir, INFO_FILE))
        return {"reference": info}


MERGE_BYTES = 64 << 20  # keys read at once by :func:`merge_sorted_sets`, over all its inputs


def _merged_rounds(sets: list[np.ndarray], chunk: int) -> Iterator[np.ndarray]:
    """The union of sorted unique arrays, in ascending sorted unique pieces: each round takes from every input
    the keys up to the smallest last key of their next ``chunk``, so no key is split across rounds."""
    pos = [0] * len(sets)
    while True:
        live = [i for i, a in enumerate(sets) if pos[i] < len(a)]
        if not live:
            return
        bound = min(sets[i][min(pos[i] + chunk, len(sets[i])) - 1] for i in live)
        pieces = []
        for i in live:
            window = np.asarray(sets[i][pos[i] : pos[i] + chunk])
            end = int(np.searchsorted(window, bound, side="right"))
            pieces.append(window[:end])
            pos[i] += end
        yield sorted_unique(np.concatenate(pieces))


def merge_sorted_sets(paths: list[str], out: str, budget: int = MERGE_BYTES) -> int:
    """Write the union of sorted unique uint64 ``.npy`` sets to ``out`` (``.npy``), streaming: two passes over
    memory-mapped inputs (count, then write into a memory-mapped output), ``budget`` bytes of keys in memory.
    Returns the number of keys."""
    sets = [np.load(local_file(p), mmap_mode="r", allow_pickle=False) for p in paths]
    chunk = max(1024, budget // 8 // max(len(sets), 1))
    total = sum(len(x) for x in _merged_rounds(sets, chunk))
    with atomic_path(out) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint64, shape=(total,))
        at = 0
        for x in _merged_rounds(sets, chunk):
            arr[at : at + len(x)] = x
            at += len(x)
        arr.flush()
        del arr
    drop_local_copies(paths)
    return total


def reference_file(path: str, ngram: int, sample: int) -> str:
    """``path`` itself, or a ``wikiref`` output folder's ``reference.npy`` after checking its options."""
    info_path = os.path.join(path, INFO_FILE)
    fs = url_to_fs(path)[0]
    if not fs.isdir(path):
        return path
    if not fs.exists(info_path):
        return path  # a folder of reference texts
    info = read_json(info_path)
    if info["ngram"] != ngram or info["sample"] != sample:
        raise ValueError(f"{path} holds {info['ngram']}-grams sampled 1 in {info['sample']}, but decontaminate "
                         f"uses wikipedia_ngram={ngram}, wikipedia_sample={sample}")
    return os.path.join(path, REFERENCE_FILE)
