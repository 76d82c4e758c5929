"""``corpus-forge wikiref``: a Wikipedia reference n-gram set for decontamination, built in parallel, saved.

    corpus-forge wikiref enwiki-pages-articles.xml.bz2 --out wikiref/ [--shards 8]
    corpus-forge decontaminate docs/ --out clean/ --wikipedia-reference wikiref/

Stripping wikitext is the expensive part of a reference (plain Python, a few MB/s). Each input file is read
by ``shards`` tasks; task i strips and hashes pages i, i + shards, ... (every task still decompresses and
parses the XML, which costs a fraction of the stripping), so ``shards`` workers build one file's reference
about ``shards`` times faster. Each task saves its sorted unique hashes under ``OUT/_work``; the last phase
merges them into ``OUT/reference.npy`` (the format ``decontaminate`` loads) and ``OUT/reference.json``
(n-gram size, sampling and counts: ``decontaminate`` checks they match its own options).

Inputs: MediaWiki XML exports (``.xml``, ``.xml.bz2``, ...), or text, JSONL or Parquet files of articles.
``documents_in`` counts pages (texts) read; removed: ``redirect``, ``other_namespace``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from corpus_forge.config import StageConfig
from corpus_forge.io import expand_inputs, load_npy, path_key, read_json, save_npy, url_to_fs, write_json_atomic
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
        keys = sorted_unique(np.concatenate([load_npy(os.path.join(hashes, f"{m['key']}.npy")) for m in markers]))
        save_npy(os.path.join(run.out_dir, REFERENCE_FILE), keys)
        info = {"ngram": self.config.ngram, "sample": self.config.sample, "markup": self.config.markup,
                "ngrams": len(keys), "texts": counters.documents_out}
        write_json_atomic(info, os.path.join(run.out_dir, INFO_FILE))
        return {"reference": info}


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
