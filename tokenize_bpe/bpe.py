"""``bpe``: train a byte-level BPE tokenizer on a sample of the corpus; write ``tokenizer.json`` + ``.tiktoken``.

Lifecycle (one runner, :mod:`corpus_forge.runner`):

- partitions: one per input file (stage output ``part-*.parquet``, or ``.parquet``/``.jsonl``/``.txt``
  files, see :mod:`corpus_forge.text_sources`);
- prepare: estimates the input's text bytes from Parquet metadata and file sizes, to set sampling rates;
- process: draws two uniforms per document from (seed, id) (:mod:`tokenize_bpe.sample`): ``h`` makes it a
  held-out candidate (below the held-out rate), ``u`` orders it for training; each partition writes what the
  global selection can need to the work folder (its candidates, and its smallest ``u`` up to
  ``sample_bytes``). Empty documents are removed as ``empty_text``; every other document is counted as kept
  (it was read; sampling is not removal);
- finalize: the sample files' small columns are read on the workers; held-out = candidates in order of ``h``
  up to ``heldout_bytes`` (at most ``heldout_fraction`` of the input); training = the other documents with the
  smallest ``u`` up to ``sample_bytes``: the same sample for any partitioning or number of workers. Documents
  are chunked (``chunk_chars``), the trainer runs (``trainer``: rustbpe, or HF ``tokenizers``),
  ``OUT/tokenizer.json`` and ``OUT/tokenizer.tiktoken`` are exported (:mod:`tokenize_bpe.export`), and bytes
  per token are reported on the held-out documents and on the fixed English evaluation text
  (``tokenize_bpe/data/``), and for ``--reference tokenizer.json`` too. Training, export and measuring run as
  one task on a worker (:func:`train_on_sample`): the client holds a few numbers per sampled document, never
  the text, so a laptop can drive a cluster's run.

``<|endoftext|>`` has id vocab_size - 1. Every byte is in the base vocabulary, so any text round-trips.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from corpus_forge.config import StageConfig
from corpus_forge.heap import release_freed_memory
from corpus_forge.io import is_file, local_file, path_key, read_parquet, url_to_fs, write_parquet_atomic
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters
from corpus_forge.text_sources import file_kind, read_documents, text_files
from tokenize_bpe import bpe_report, sample
from tokenize_bpe.encode import EVAL_TEXT, read_eval_text, tiktoken_encoding
from tokenize_bpe.export import EOT, export
from tokenize_bpe.train_merges import chunk_text, resolve_pattern, train_ranks

SAMPLES = "bpe_sample"


class BpeConfig(StageConfig):
    """Options of ``bpe`` (keys as in a recipe's ``bpe:`` block)."""

    vocab_size: int = Field(32768, ge=258, description="vocabulary size, <|endoftext|> included (its id = N - 1)")
    pattern: str = Field("gpt2", description="split regex: gpt2, gpt4, or a regex of your own")
    sample_bytes: int = Field(1 << 30, gt=0, description="UTF-8 bytes of documents to train on (a hash sample)")
    heldout_bytes: int = Field(4 << 20, ge=0, description="bytes of held-out documents for bytes/token")
    heldout_fraction: float = Field(0.1, ge=0, lt=1, description="at most this share of the input is held out")
    seed: int = Field(0, description="seed of the document sample")
    chunk_chars: int = Field(1 << 16, gt=0, description="documents are cut into pieces this long before training")
    trainer: Literal["rustbpe", "hf"] = Field("rustbpe", description="BPE trainer (rustbpe measured faster)")
    reference: str | None = Field(None, description="a tokenizer.json to compare bytes/token against",
                                  json_schema_extra={"metavar": "tokenizer.json"})
    eval_text: str | None = Field(None, description="fixed English evaluation text, .txt or .txt.gz "
                                  "(none: the shipped Pride and Prejudice)", json_schema_extra={"metavar": "FILE"})


def estimate_text_bytes(path: str) -> int:
    """UTF-8 bytes of text in a file, roughly: Parquet's uncompressed ``text`` column, else the file size."""
    kind, compression = file_kind(path) or ("txt", None)
    fs, p = url_to_fs(path)
    if kind == "parquet":
        with fs.open(p, "rb") as f:
            md = pq.ParquetFile(f).metadata
        names = [md.schema.column(i).name for i in range(md.num_columns)]
        col = names.index("text") if "text" in names else None
        if col is None:
            return 0
        return sum(md.row_group(r).column(col).total_uncompressed_size for r in range(md.num_row_groups))
    return int(fs.size(p)) * (3 if compression else 1)  # text compresses ~3x


def _prefix_upto(nbytes: np.ndarray, limit: float, at_least_one: bool) -> int:
    """How many leading rows add up to at most ``limit`` bytes (with ``at_least_one``: one row, if any)."""
    if nbytes.size == 0:
        return 0
    n = int(np.searchsorted(np.cumsum(nbytes), limit, side="right"))
    return max(1, n) if at_least_one else n


def select_sample(u: np.ndarray, h: np.ndarray, candidate: np.ndarray, nbytes: np.ndarray, sample_bytes: float,
                  heldout_bytes: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) masks. Held-out: the candidates in order of ``h``, each taken if it still fits in
    ``heldout_bytes`` (a large document is skipped, not the end). Train: the other documents with the
    smallest ``u`` whose bytes add up to at most ``sample_bytes`` (at least one)."""
    held = np.zeros(u.size, bool)
    left = heldout_bytes
    for i in np.flatnonzero(candidate)[np.argsort(h[candidate], kind="stable")]:
        if nbytes[i] <= left:
            held[i] = True
            left -= nbytes[i]
    idx = np.flatnonzero(~held)
    idx = idx[np.argsort(u[idx], kind="stable")]
    train = np.zeros(u.size, bool)
    train[idx[:_prefix_upto(nbytes[idx], sample_bytes, True)]] = True
    return train, held


@dataclass(frozen=True)
class BpeContext:
    """Broadcast to every sampling task: where samples go, and the draw rates of the hash sample."""

    work_dir: str
    train_rate: float
    heldout_rate: float


class BpeStage(Stage):
    name = "bpe"
    Config = BpeConfig
    help = "train a byte-level BPE tokenizer on the corpus (tokenizer.json + tokenizer.tiktoken)"
    report_section = staticmethod(bpe_report.section)  # its part of report.html
    writes_documents = False
    inputs_metavar = "INPUT"
    inputs_help = "stage output directories, or .parquet / .jsonl(.gz) / .txt(.gz) files or folders of them"
    config: BpeConfig

    def check(self) -> None:
        resolve_pattern(self.config.pattern)
        if self.config.reference and not is_file(self.config.reference):
            raise FileNotFoundError(f"--reference {self.config.reference}: no such tokenizer.json")
        if self.config.eval_text and not is_file(self.config.eval_text):
            raise FileNotFoundError(f"--eval-text {self.config.eval_text}: no such file")

    def partitions(self, inputs: list[str]) -> list[Partition]:
        return [Partition(key=path_key(f), path=f) for f in text_files(inputs)]

    def prepare(self, partitions: list[Partition], run: RunContext) -> BpeContext:
        paths = [p.path for p in partitions]  # file footers and sizes, read on the workers in batches
        total = max(1, sum(run.client.gather(run.client.map(
            _estimate_many, [paths[i:i + READ_BATCH] for i in range(0, len(paths), READ_BATCH)], pure=False))))
        c = self.config
        # twice the expected share, so that estimation error rarely leaves the sample short
        return BpeContext(run.work_dir, train_rate=min(1.0, 2.0 * c.sample_bytes / total),
                          heldout_rate=min(1.0, 2.0 * c.heldout_bytes / total) if c.heldout_bytes else 0.0)

    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        c, counters = self.config, Counters()
        rows: dict[str, list] = {"u": [], "h": [], "candidate": [], "text": []}
        text_bytes = 0
        for batch in read_documents(part.path):
            counters.documents_in += len(batch.texts)
            keep = [i for i, t in enumerate(batch.texts) if t.strip()]
            counters.remove("empty_text", len(batch.texts) - len(keep))
            if not keep:
                continue
            text_bytes += sum(len(batch.texts[i].encode("utf-8")) for i in keep)
            ids = sample.id_hashes([batch.ids[i] for i in keep])
            h, u = sample.unit(ids, c.seed, sample.HELDOUT), sample.unit(ids, c.seed, sample.TRAIN)
            for j, i in enumerate(keep):
                if h[j] < ctx.heldout_rate or u[j] < ctx.train_rate:
                    rows["u"].append(u[j])
                    rows["h"].append(h[j])
                    rows["candidate"].append(bool(h[j] < ctx.heldout_rate))
                    rows["text"].append(batch.texts[i])
        counters.documents_out = counters.documents_in - sum(counters.removed.values())
        u, h = np.asarray(rows["u"], np.float64), np.asarray(rows["h"], np.float64)
        cand = np.asarray(rows["candidate"], bool)
        nbytes = np.asarray([len(t.encode("utf-8")) for t in rows["text"]], np.int64)
        # Keep what the global selection can need: every held-out candidate, and the training draws up to
        # where this partition's documents that cannot be held out (non-candidates) alone fill sample_bytes.
        safe = np.where(cand, 0, nbytes)
        order = np.argsort(u, kind="stable")
        reach = int(np.searchsorted(np.cumsum(safe[order]), c.sample_bytes, side="left"))
        u_cut = u[order[min(reach, u.size - 1)]] if u.size else 0.0
        keep_rows = cand | (u <= u_cut)
        table = pa.table({"u": u, "h": h, "candidate": cand, "nbytes": nbytes,
                          "text": pa.array(rows["text"], pa.large_string())}).filter(pa.array(keep_rows))
        write_parquet_atomic(table, os.path.join(ctx.work_dir, SAMPLES, f"{part.key}.parquet"))
        counters.extra = {"candidate_documents": table.num_rows, "text_bytes": text_bytes}
        return PartitionResult(None, None, counters)

    # ---- global phase: select, train, export, measure ------------------------------------------------
    def _sample_files(self, run: RunContext, markers: list[dict[str, Any]]) -> list[str]:
        keys = sorted(m["key"] for m in markers)
        return [os.path.join(run.work_dir, SAMPLES, f"{k}.parquet") for k in keys]

    def _selected(self, client: Any, files: list[str], heldout_limit: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per sample file: (train, held-out) masks of the global selection (the files' small columns are read
        on the workers, in batches; the client holds one row per candidate, bounded by the sample)."""
        batches = [files[i:i + READ_BATCH] for i in range(0, len(files), READ_BATCH)]
        tables = [t for batch in client.gather(client.map(_sample_columns, batches, pure=False)) for t in batch]
        sizes = [t.num_rows for t in tables]
        col = {k: np.concatenate([t[k].to_numpy(zero_copy_only=False) for t in tables]) if tables else np.zeros(0)
               for k in ("u", "h", "candidate", "nbytes")}
        train, held = select_sample(col["u"], col["h"], col["candidate"].astype(bool), col["nbytes"].astype(np.int64),
                                    self.config.sample_bytes, heldout_limit)
        bounds = np.cumsum([0, *sizes])
        return [(train[a:b], held[a:b]) for a, b in pairwise(bounds)]

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        """Select the sample here, then train, export and measure in one task on a worker (a laptop can drive a
        cluster's run: the client never holds the sample's text)."""
        c = self.config
        files = self._sample_files(run, markers)
        # never hold out more than heldout_fraction of the input (a small corpus keeps most of it for training)
        heldout_limit = min(c.heldout_bytes, c.heldout_fraction * float(counters.extra.get("text_bytes", 0)))
        masks = self._selected(run.client, files, heldout_limit)
        if not any(m[0].any() for m in masks):
            raise ValueError("bpe: no non-empty documents to train on")
        keep = [i for i, (t, h) in enumerate(masks) if t.any() or h.any()]  # ship only files that give text
        task = run.client.submit(train_on_sample, c, [files[i] for i in keep], [masks[i] for i in keep],
                                 run.out_dir, key=f"bpe-train-{os.urandom(4).hex()}", pure=False)
        return task.result()

    @staticmethod
    def print_report(stats: dict[str, Any]) -> None:
        bpt = stats.get("bytes_per_token", {})
        line = (f"tokenizer: vocab {stats.get('vocab_size')}, trained on {stats.get('training_bytes', 0) / 1e6:.1f} MB "
                f"in {stats.get('train_seconds')} s; bytes/token held-out {bpt.get('heldout')}, "
                f"{stats.get('eval_text')} {bpt.get('eval_text')}")
        ref = stats.get("reference")
        if ref:
            rb = ref["bytes_per_token"]
            line += f"; reference {rb.get('heldout')} / {rb.get('eval_text')}"
        print(line)


READ_BATCH = 64


def _estimate_many(paths: list[str]) -> int:
    return sum(estimate_text_bytes(p) for p in paths)


def _sample_columns(files: list[str]) -> list[pa.Table]:
    return [read_parquet(f, columns=["u", "h", "candidate", "nbytes"]) for f in files]


def _texts(files: list[str], masks: list[np.ndarray]) -> Iterator[str]:
    for f, m in zip(files, masks, strict=True):
        if m.any():
            yield from read_parquet(f, columns=["text"]).filter(pa.array(m))["text"].to_pylist()


def train_on_sample(c: BpeConfig, files: list[str], masks: list[tuple[np.ndarray, np.ndarray]],
                    out_dir: str) -> dict[str, Any]:
    """Train on the selected documents, export ``out_dir/tokenizer.{json,tiktoken}``, measure bytes per token;
    return the ``stats.json`` keys. Runs as one task on a worker, which then gives the sample's heap back."""
    try:
        return _train_on_sample(c, files, masks, out_dir)
    finally:
        release_freed_memory()


def _train_on_sample(c: BpeConfig, files: list[str], masks: list[tuple[np.ndarray, np.ndarray]],
                     out_dir: str) -> dict[str, Any]:
    seen = {"documents": 0, "bytes": 0, "chunks": 0}

    def training_texts() -> Iterator[str]:
        for text in _texts(files, [m[0] for m in masks]):
            seen["documents"] += 1
            seen["bytes"] += len(text.encode("utf-8"))
            for piece in chunk_text(text, c.chunk_chars):
                seen["chunks"] += 1
                yield piece

    pattern = resolve_pattern(c.pattern)
    t0 = time.perf_counter()
    ranks = train_ranks(training_texts(), c.vocab_size, pattern, c.trainer)
    train_seconds = time.perf_counter() - t0
    paths = export(ranks, pattern, out_dir)
    heldout = list(_texts(files, [m[1] for m in masks]))
    eval_path = c.eval_text or EVAL_TEXT
    eval_text = read_eval_text(eval_path)
    enc = tiktoken_encoding(out_dir)
    stats: dict[str, Any] = {
        "vocab_size": len(ranks) + 1, "requested_vocab_size": c.vocab_size, "eot_id": len(ranks),
        "eot_token": EOT, "pattern": pattern, "trainer": c.trainer,
        "training_documents": seen["documents"], "training_bytes": seen["bytes"],
        "training_chunks": seen["chunks"], "train_seconds": round(train_seconds, 3),
        "train_mb_per_second": round(seen["bytes"] / 1e6 / max(train_seconds, 1e-9), 3),
        "heldout_documents": len(heldout), "heldout_bytes": sum(len(t.encode("utf-8")) for t in heldout),
        "eval_text": os.path.basename(eval_path),
        "bytes_per_token": bytes_per_token(lambda ts: enc.encode_ordinary_batch(ts), heldout, eval_text),
        **paths,
    }
    if c.reference:
        from tokenizers import Tokenizer

        ref = Tokenizer.from_file(local_file(c.reference))
        stats["reference"] = {
            "path": c.reference, "vocab_size": ref.get_vocab_size(),
            "bytes_per_token": bytes_per_token(
                lambda ts: [e.ids for e in ref.encode_batch(ts, add_special_tokens=False)], heldout, eval_text),
        }
    return stats


def bytes_per_token(encode: Any, heldout: list[str], eval_text: str) -> dict[str, float | None]:
    """UTF-8 bytes per token of the held-out documents (together) and of the evaluation text."""
    def ratio(texts: list[str]) -> float | None:
        if not texts:
            return None
        n_tokens = sum(len(x) for x in encode(texts))
        return round(sum(len(t.encode("utf-8")) for t in texts) / max(1, n_tokens), 4)

    pieces = list(chunk_text(eval_text, 1 << 16))
    return {"heldout": ratio(heldout), "eval_text": ratio(pieces)}
