"""``pack``: tokenize the sources of every mix and write llm.c token shards, ``.idx`` sidecars and a manifest.

Lifecycle (one runner, :mod:`corpus_forge.runner`):

- check: the tokenizer folder and every source of every mix exist (else exit 2 before any work);
- partitions: one per input file of any mix (a file used by several mixes is tokenized once);
- prepare: loads the encoder once on the client (tiktoken, checked equal to ``tokenizer.json``,
  :mod:`tokenize_bpe.encode`);
- process: tokenizes the file's documents, ``<|endoftext|>`` prepended to each, and writes its tokens, the
  documents' id hashes and token counts to the work folder. Documents with no text are removed as
  ``empty_text``; every other document is kept (tokenized);
- finalize, per mix: plans the split, budgets, repetition and order (:mod:`tokenize_bpe.mix`: a pure function
  of ids, token counts and the seed, the same for any number of workers), writes
  ``OUT/<mix>/{train,val}-NNNNN.bin`` + ``.idx`` + ``.src`` in parallel on the cluster (a shard already written for the
  same plan is kept: a killed pack resumes), and ``OUT/<mix>/manifest.json``.

The output and work folders may be local (a shared filesystem on a cluster) or an object store
(``--out s3://…``): every path goes through fsspec. A worker reads a remote tokens file from a local copy
(:func:`corpus_forge.io.local_file`), fetched once per worker machine and removed when the pack is done.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from pydantic import Field

from corpus_forge.config import ConfigError, StageConfig, validate
from corpus_forge.io import (
    InputError,
    absolute,
    drop_local_copies,
    is_file,
    is_url,
    list_dir,
    load_npy,
    local_file,
    path_exists,
    path_key,
    read_json,
    remove_file,
    save_npy,
    write_json_atomic,
)
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters
from corpus_forge.text_sources import read_documents, text_files
from tokenize_bpe import sample
from tokenize_bpe.encode import load_encoder
from tokenize_bpe.export import TIKTOKEN_FILE, TOKENIZER_JSON
from tokenize_bpe.mix import MixFile, MixSpec, Selection, SourceDocs, load_mix, plan_mix
from tokenize_bpe.shards import HEADERS, VERSION_DTYPE, file_sha256, read_header, version_for_vocab, write_shard

TOKENS = "pack_tokens"
PLANS = "pack_plans"
MANIFEST = "manifest.json"
SPLITS = ("train", "val")
LAYOUT = "bin+idx+src"  # part of a plan's digest: shards written before the .src sidecar existed are redone


class PackConfig(StageConfig):
    """Options of ``pack`` (keys as in a recipe's ``pack:`` block)."""

    tokenizer: str = Field(description="folder with tokenizer.json + tokenizer.tiktoken (corpus-forge bpe --out)",
                           json_schema_extra={"metavar": "DIR"})
    mix: MixFile = Field(description="the mix file (path), or the mix inline in a recipe",
                         json_schema_extra={"metavar": "MIX.yaml"})
    batch_size: int = Field(1024, gt=0, description="documents per encoding call")
    # filled in by from_options: where the mix came from (its content is ``mix``, so another mix is another
    # configuration; another tokenizer in the same folder is caught in finalize, see _check_tokenizer)
    mix_file: str | None = Field(None, json_schema_extra={"cli": False})


def _sha(path: str) -> str:
    return file_sha256(path) if path_exists(path) else ""


def _tokenizer_dir(path: str) -> str:
    return absolute(path).rstrip("/")


@dataclass(frozen=True)
class PackContext:
    """Broadcast to every tokenizing task: where token arrays go and which tokenizer encodes."""

    work_dir: str
    tokenizer: str  # the tokenizer folder
    kind: str  # the encoder load_encoder picks
    tokenizer_sha256: str


class PackStage(Stage):
    name = "pack"
    Config = PackConfig
    help = "tokenize mixes of sources into llm.c token shards (+ .idx, manifest.json)"
    writes_documents = False
    inputs_metavar = None
    config: PackConfig

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> PackStage:
        opts = dict(options or {})
        mix = opts.get("mix")
        if isinstance(mix, str):
            opts["mix_file"] = mix
            opts["mix"] = load_mix(mix).model_dump()
        elif mix is not None:
            opts["mix"] = validate(MixFile, mix, "pack.mix").model_dump()
        return cls(validate(PackConfig, opts, cls.name))

    def independent_partitions(self) -> bool:
        return True  # a file's tokens depend on that file and the tokenizer alone; the plan is redone anyway

    # ---- before any work -------------------------------------------------------------------------
    def check(self) -> None:
        tok = _tokenizer_dir(self.config.tokenizer)
        for name in (TOKENIZER_JSON, TIKTOKEN_FILE):
            if not is_file(f"{tok}/{name}"):
                raise InputError(f"--tokenizer {tok}: no {name} (the --out folder of corpus-forge bpe)")
        self.source_files()

    def source_files(self) -> dict[str, list[list[str]]]:
        """Per mix, per source: its files (an InputError names the mix and source that is missing)."""
        out: dict[str, list[list[str]]] = {}
        for mix_name, spec in self.config.mix.mixes.items():
            out[mix_name] = []
            for src in spec.sources:
                try:
                    out[mix_name].append(text_files(src.paths))
                except InputError as err:
                    raise InputError(f"mix {mix_name!r}, source {src.label!r}: {err}") from None
        return out

    def inputs_identity(self, partitions: list[Partition]) -> Any:
        """The tokenizer's sha256: a pack finished with another tokenizer in that folder is redone."""
        return _sha(f"{_tokenizer_dir(self.config.tokenizer)}/{TOKENIZER_JSON}")

    def partitions(self, inputs: list[str]) -> list[Partition]:
        files = sorted({f for mix in self.source_files().values() for src in mix for f in src})
        return [Partition(key=path_key(f), path=f) for f in files]

    def prepare(self, partitions: list[Partition], run: RunContext) -> PackContext:
        tok = _tokenizer_dir(self.config.tokenizer)
        return PackContext(run.work_dir, tok, load_encoder(tok).kind, _sha(f"{tok}/{TOKENIZER_JSON}"))

    # ---- per partition, on a worker ------------------------------------------------------------------
    def process(self, part: Partition, ctx: Any = None) -> PartitionResult:
        enc = load_encoder(ctx.tokenizer)
        dtype = VERSION_DTYPE[version_for_vocab(enc.vocab_size)]
        counters = Counters()
        toks, lens, hashes = [], [], []
        for batch in read_documents(part.path, batch_size=self.config.batch_size):
            counters.documents_in += len(batch.texts)
            keep = [i for i, t in enumerate(batch.texts) if t.strip()]
            counters.remove("empty_text", len(batch.texts) - len(keep))
            if not keep:
                continue
            seqs = enc.encode_batch([batch.texts[i] for i in keep])
            n = np.fromiter((len(s) + 1 for s in seqs), dtype=np.int64, count=len(seqs))
            toks.append(np.fromiter(chain.from_iterable(chain((enc.eot,), s) for s in seqs), dtype=dtype,
                                    count=int(n.sum())))
            lens.append(n)
            hashes.append(sample.id_hashes([batch.ids[i] for i in keep]))
        counters.documents_out = counters.documents_in - sum(counters.removed.values())
        base = os.path.join(ctx.work_dir, TOKENS, part.key)
        arrays = {"tokens": np.concatenate(toks) if toks else np.zeros(0, dtype),
                  "lengths": np.concatenate(lens) if lens else np.zeros(0, np.int64),
                  "hashes": np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)}
        for name, arr in arrays.items():
            save_npy(f"{base}.{name}.npy", arr)
        counters.extra = {"tokens": int(arrays["lengths"].sum()), "tokenizer_sha256": ctx.tokenizer_sha256}
        return PartitionResult(None, None, counters)

    # ---- after the map, on the client: plan and write shards per mix --------------------------------
    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        cfg = self.config
        tok_dir = _tokenizer_dir(cfg.tokenizer)
        enc = load_encoder(tok_dir)
        _check_tokenizer(tok_dir, markers)
        version = version_for_vocab(enc.vocab_size)
        files = sorted(f for mix in self.source_files().values() for src in mix for f in src)
        files = list(dict.fromkeys(files))
        index = {f: i for i, f in enumerate(files)}
        work = os.path.join(run.work_dir, TOKENS)
        token_files = [os.path.join(work, f"{path_key(f)}.tokens.npy") for f in files]
        per_file = [_load_docs(os.path.join(work, path_key(f)), i) for i, f in enumerate(files)]
        tokenizer_info = {"path": tok_dir, "tokenizer_json_sha256": _sha(f"{tok_dir}/{TOKENIZER_JSON}"),
                          "tiktoken_sha256": _sha(f"{tok_dir}/{TIKTOKEN_FILE}"), "vocab_size": enc.vocab_size,
                          "eot_id": enc.eot, "encoder": enc.kind}
        summary: dict[str, Any] = {}
        for mix_name, src_files in self.source_files().items():
            spec = cfg.mix.mixes[mix_name]
            docs = [_concat([per_file[index[f]] for f in fl]) for fl in src_files]
            plan = plan_mix(spec, docs, cfg.mix.seed)
            out = os.path.join(run.out_dir, mix_name)
            shards = []
            for split in SPLITS:
                sel: Selection = plan[split]
                shards += _write_split(run, mix_name, split, sel, docs, token_files, version, cfg.mix.shard_tokens,
                                       [s.label for s in spec.sources])
            _remove_stale(out, {s["file"] for s in shards})
            manifest = _manifest(mix_name, spec, src_files, plan, shards, tokenizer_info, version, cfg)
            write_json_atomic(manifest, os.path.join(out, MANIFEST))
            summary[mix_name] = {k: manifest[k] for k in ("train_tokens", "val_tokens", "stopped_short")}
            summary[mix_name]["shards"] = len(shards)
        _drop_copies(run, token_files)
        return {"tokens": int(sum(m.get("tokens", 0) for m in markers)), "encoder": enc.kind, "mixes": summary}

    @staticmethod
    def print_report(stats: dict[str, Any]) -> None:
        for name, m in stats.get("mixes", {}).items():
            short = "  (stopped short: see manifest)" if m.get("stopped_short") else ""
            print(f"mix {name}: {m['train_tokens']:,} train + {m['val_tokens']:,} val tokens in {m['shards']} "
                  f"shard(s){short}")


# ---- helpers -----------------------------------------------------------------------------------------
def _drop_copies(run: RunContext, paths: list[str]) -> None:
    """Remove the workers' (and this process's) local copies of remote work files (nothing for local ones)."""
    remote = [p for p in paths if is_url(p)]
    if remote:
        drop_local_copies(remote)
        if run.client is not None:
            run.client.run(drop_local_copies, remote)


def _check_tokenizer(tok_dir: str, markers: list[dict[str, Any]]) -> None:
    """Refuse to assemble shards from partitions tokenized with another ``tokenizer.json``."""
    now = _sha(f"{tok_dir}/{TOKENIZER_JSON}")
    stale = [m["key"] for m in markers if m.get("tokenizer_sha256") != now]
    if stale:
        raise ValueError(f"{len(stale)} partition(s) (e.g. {stale[0]}) were tokenized with another "
                         f"{tok_dir}/{TOKENIZER_JSON}; pack into a new --out folder")


def _load_docs(base: str, file_index: int) -> SourceDocs:
    lengths = load_npy(f"{base}.lengths.npy")
    offsets = np.zeros(lengths.size, np.int64)
    if lengths.size:
        offsets[1:] = np.cumsum(lengths)[:-1]
    return SourceDocs(load_npy(f"{base}.hashes.npy"), lengths, np.full(lengths.size, file_index, np.int32), offsets)


def _concat(parts: list[SourceDocs]) -> SourceDocs:
    return SourceDocs(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("hashes", "lengths", "files",
                                                                               "offsets")))


def _write_split(run: RunContext, mix: str, split: str, sel: Selection, docs: list[SourceDocs],
                 token_files: list[str], version: int, shard_tokens: int, labels: list[str]) -> list[dict[str, Any]]:
    """Write the split's shards as Dask tasks (done ones kept); each task gets its slice of the order."""
    if sel.source.size == 0:
        return []
    n = sel.source.size
    arrays = {"files": np.empty(n, np.int32), "offsets": np.empty(n, np.int64), "lengths": np.empty(n, np.int64),
              "source": sel.source.astype(np.int32)}
    for s, d in enumerate(docs):
        mask = sel.source == s
        for name in ("files", "offsets", "lengths"):
            arrays[name][mask] = getattr(d, name)[sel.doc[mask]]
    starts = np.zeros(n, np.int64)
    starts[1:] = np.cumsum(arrays["lengths"])[:-1]
    arrays["starts"] = starts
    total = int(arrays["lengths"].sum())
    digest = hashlib.sha256()
    for name in ("files", "offsets", "lengths", "source"):
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    digest.update(json.dumps([LAYOUT, version, shard_tokens, [os.path.basename(f) for f in token_files]]).encode())
    plan_sha = digest.hexdigest()
    done_dir = os.path.join(run.work_dir, PLANS, mix, split)
    n_shards = -(-total // shard_tokens)
    out = os.path.join(run.out_dir, mix)
    jobs = []
    for k in range(n_shards):
        lo, hi = k * shard_tokens, min(total, (k + 1) * shard_tokens)
        i0 = int(np.searchsorted(starts, lo, side="right")) - 1
        i1 = int(np.searchsorted(starts, hi, side="left"))
        piece = {name: arr[i0:i1].copy() for name, arr in arrays.items()}
        jobs.append((done_dir, k, lo, hi, piece, os.path.join(out, f"{split}-{k:05d}.bin"), version,
                     token_files, labels, plan_sha))
    futures = run.client.map(write_planned_shard, jobs, pure=False, key=[f"pack-{mix}-{split}-{k}-{os.urandom(3).hex()}"
                                                                         for k in range(n_shards)])
    results = run.client.gather(futures)
    return [{"split": split, **r} for r in results]


def write_planned_shard(job: tuple) -> dict[str, Any]:
    """Write shard ``k`` (tokens ``lo:hi`` of the split's order) from its slice of the order, or keep it if
    written for the same plan; runs on a worker."""
    done_dir, k, lo, hi, a, out, version, token_files, labels, plan_sha = job
    done = os.path.join(done_dir, f"done-{k:05d}.json")
    if path_exists(out) and path_exists(done):
        rec = read_json(done)
        if rec.get("plan_sha256") == plan_sha and read_header(out).num_tokens == rec["tokens"]:
            return rec["shard"]
    memmaps: dict[int, np.ndarray] = {}
    pieces, per_source = [], np.zeros(len(labels), np.int64)
    for i in range(a["starts"].size):
        f = int(a["files"][i])
        if f not in memmaps:
            memmaps[f] = np.load(local_file(token_files[f]), mmap_mode="r")
        s0, n = int(a["starts"][i]), int(a["lengths"][i])
        a0, a1 = max(lo, s0), min(hi, s0 + n)
        off = int(a["offsets"][i]) + (a0 - s0)
        pieces.append(memmaps[f][off : off + (a1 - a0)])
        per_source[int(a["source"][i])] += a1 - a0
    tokens = np.concatenate(pieces) if pieces else np.zeros(0, VERSION_DTYPE[version])
    starts = np.asarray(a["starts"], dtype=np.int64)
    whole = starts >= lo
    doc_starts = (starts[whole] - lo).astype(np.uint64)
    # the tokens before the first document start: the tail of a document split from the previous shard
    head = int(a["source"][0]) if tokens.size and not whole[0] else None
    sha = write_shard(out, tokens, doc_starts, version, doc_sources=a["source"][whole])
    shard = {"file": os.path.basename(out), "tokens": int(tokens.size), "documents": int(doc_starts.size),
             "sha256": sha, "tokens_per_source": {labels[s]: int(v) for s, v in enumerate(per_source) if v},
             "head_source": head}
    write_json_atomic({"plan_sha256": plan_sha, "tokens": int(tokens.size), "shard": shard}, done)
    return shard


def _remove_stale(out: str, keep: set[str]) -> None:
    """Shards of an earlier plan that this plan does not have (fewer shards now)."""
    for p in list_dir(out):
        name = os.path.basename(p.rstrip("/"))
        stem, ext = os.path.splitext(name)
        if ext in (".bin", ".idx", ".src") and name.startswith(SPLITS) and f"{stem}.bin" not in keep:
            remove_file(p)


def _manifest(name: str, spec: MixSpec, src_files: list[list[str]], plan: dict[str, Any], shards: list[dict],
              tokenizer: dict[str, Any], version: int, cfg: PackConfig) -> dict[str, Any]:
    b = plan["budgets"]
    train_tokens = sum(s["train_tokens"] for s in plan["sources"])
    sources = []
    for i, (src, files, fig) in enumerate(zip(spec.sources, src_files, plan["sources"], strict=True)):
        sources.append({
            "name": src.label, "paths": src.paths, "files": len(files),
            "requested_weight": round(float(b["weights"][i]), 6),
            "achieved_weight": round(fig["train_tokens"] / train_tokens, 6) if train_tokens else 0.0,
            "requested_tokens": round(float(b["weights"][i]) * b["requested_tokens"]),
            "documents": fig["available_train_documents"] + fig["val_documents"], **fig,
        })
    split_tokens = {s: sum(x["tokens"] for x in shards if x["split"] == s) for s in SPLITS}
    note = None
    if b["stopped_short"]:
        note = (f"source {b['limiting_source']!r} ran out after {spec.max_epochs:g} epochs: the mix has "
                f"{b['planned_tokens']:,} of the {b['requested_tokens']:,} train tokens requested, weights kept")
    return {
        "mix": name, "seed": cfg.mix.seed, "shard_tokens": cfg.mix.shard_tokens,
        "version": version, "magic": HEADERS[version][0], "header": HEADERS[version][2],
        "dtype": str(VERSION_DTYPE[version]), "header_bytes": 1024,
        "val_fraction": spec.val_fraction, "max_epochs": spec.max_epochs,
        "requested_tokens": b["requested_tokens"], "train_tokens": split_tokens["train"],
        "val_tokens": split_tokens["val"], "stopped_short": b["stopped_short"], "limiting_source": b["limiting_source"],
        "note": note, "sources": sources, "shards": shards, "tokenizer": tokenizer,
        "mix_file": cfg.mix_file, "command": shlex.join(["corpus-forge", *sys.argv[1:]]) if sys.argv else None,
    }


def load_manifest(path: str) -> dict[str, Any]:
    try:
        return read_json(path)
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a readable manifest ({err})") from None
