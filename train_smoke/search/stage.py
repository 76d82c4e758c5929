"""``mix search``: find the best mixture of sources with small proxy runs, then verify it (RegMix).

    corpus-forge mix search SEARCH.yaml --out DIR

One partition (a Dask task) per proxy: ``train`` on the packed sources at that proxy's weights (windows drawn
from each source's shards by weight at training time, no re-pack), every proxy from the same initial weights
(``seed``), into ``DIR/proxies/proxy-NNN/``. Before the proxies, each source is packed once (``DIR/sources/``)
and the weights are drawn around the natural token shares (:mod:`train_smoke.search.sampling`). Each task asks
for a ``GPU`` resource when the cluster has GPU workers; on CPU the runs share the cores. A finished proxy has
a marker and is not rerun.

After the proxies: a regression from weights to bits per byte per evaluation text
(:mod:`train_smoke.search.regression`), the predicted best mixture over ``candidates`` draws (the mean of the
``top_k``), ``DIR/mix.yaml`` (the found mix, ready for ``pack``), and the verification: ``found``, ``natural``
and ``equal`` packed and trained through ``ablate`` at ``verify.tokens`` over ``verify.seeds`` (``DIR/verify/``).
Writes ``DIR/proxies.csv``, ``DIR/search.md`` (its first line says whether the found mix beat both obvious
mixes), ``DIR/weights.png`` and ``DIR/fit.png``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from corpus_forge.config import ConfigError, load_yaml
from corpus_forge.io import InputError, file_size, is_file, is_url, make_dirs, remove_file, remove_tree, url_to_fs
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters
from train_smoke.ablate import AblateContext
from train_smoke.config import TrainConfig
from train_smoke.search import report, sampling, sources
from train_smoke.search.config import SearchConfig

PROXIES = "proxies"
# A proxy is scored once, at its end, on the evaluation texts: no learning curve (whose evaluations cost more
# than a proxy's training on CPU). Options under ``train:`` override these.
PROXY_TRAIN = {"eval_every": 1 << 40, "val_tokens": 8192}


@dataclass(frozen=True)
class SearchContext:
    """What every proxy task gets: the packed sources, every proxy's weights, and ablate's cluster context
    (where runs go, GPU or not, torch threads per worker)."""

    dirs: dict[str, str]
    names: list[str]
    weights: list[list[float]]  # by proxy index, in the order of names
    cluster: AblateContext


def _near(value: str, base: Path, remote: bool) -> str:
    """A relative local path: beside the YAML when there (URLs, and beside a remote YAML: as given)."""
    if remote or is_url(value) or Path(value).is_absolute() or not (base / value).exists():
        return value
    return str((base / value).resolve())


class SearchStage(Stage):
    name = "mix-search"
    command = ("mix", "search")
    Config = SearchConfig
    help = "search source weights with small proxy runs (RegMix), then verify against natural and equal"
    writes_documents = False
    marker_fields = frozenset({"proxies"})  # finalize reads each proxy's row from its marker
    inputs_metavar = "SEARCH"
    inputs_help = "a search YAML (its keys are this step's options)"
    config: SearchConfig

    @staticmethod
    def cli_options(options: dict[str, Any], args: Any) -> dict[str, Any]:
        """Options from the search YAML given as input (paths beside it); flags and ``--config`` override it."""
        merged: dict[str, Any] = {}
        for path in getattr(args, "inputs", None) or []:
            if not path.endswith((".yaml", ".yml")):
                raise ConfigError(f"mix search: {path}: expected a search YAML")
            data = load_yaml(path) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping (sources, proxies, tokens, verify, ...)")
            base, remote = Path(path).parent, is_url(path)
            merged.update(data)
            if isinstance(data.get("sources"), dict):
                merged["sources"] = {k: _near(str(v), base, remote) for k, v in data["sources"].items()}
            if isinstance(data.get("eval"), list):
                merged["eval"] = [_near(str(v), base, remote) for v in data["eval"]]
            if isinstance(data.get("tokenizer"), str):
                merged["tokenizer"] = _near(data["tokenizer"], base, remote)
        return {**merged, **options}

    @staticmethod
    def print_report(stats: dict[str, Any]) -> None:
        s = stats.get("search") or {}
        if s:
            print(f"mix search: {s['proxies']} proxies; {s['headline']}; see search.md, mix.yaml, verify/")

    def check(self) -> None:
        """Before any work: the evaluation texts, every source's documents (the verification packs from them),
        and the tokenizer when a source still needs packing."""
        from corpus_forge.text_sources import text_files

        for path in self.config.eval or []:
            if not is_file(path):
                raise ConfigError(f"mix-search.eval: evaluation text not found: {path}")
        for name, path in self.config.sources.items():
            paths = sources.text_paths(name, path)  # a ConfigError when a packed source names none
            try:
                text_files(paths)
            except InputError as err:
                raise ConfigError(f"mix-search.sources.{name}: {err}") from None
        tok = sources.tokenizer_dir(self.config)
        for f in ("tokenizer.json", "tokenizer.tiktoken"):
            if not is_file(os.path.join(tok, f)):
                raise ConfigError(f"mix-search.tokenizer: {tok} has no {f} (the --out folder of corpus-forge bpe)")

    def inputs_identity(self, partitions: list[Partition]) -> dict[str, Any]:
        """The sources' files and sizes and the evaluation texts: changed data redoes the proxies."""
        from corpus_forge.text_sources import text_files
        from tokenize_bpe.shards import file_sha256

        def identity(path: str) -> Any:
            if sources.is_packed(path):
                m = os.path.join(path, "manifest.json")
                return file_sha256(m) if is_file(m) else path
            return [(os.path.basename(f), file_size(f)) for f in text_files([path])]

        tok = self.config.tokenizer
        tok_json = os.path.join(tok, "tokenizer.json") if tok else None
        return {"sources": {n: identity(p) for n, p in self.config.sources.items()},
                "tokenizer": file_sha256(tok_json) if tok_json and is_file(tok_json) else tok,
                "eval": {p: file_sha256(p) for p in self.config.eval or []}}

    def partitions(self, inputs: list[str]) -> list[Partition]:
        return [Partition(key=f"proxy-{i:03d}", path=f"proxy-{i:03d}", meta={"index": i})
                for i in range(self.config.proxies)]

    def setup(self, run: RunContext) -> dict[str, Any]:
        """The sources packed (once), their natural shares and bounds, and every proxy's weights."""
        cfg = self.config
        dirs = sources.pack_sources(cfg, run.out_dir, run.client)
        names = list(cfg.sources)
        available = {n: sources.available_tokens(d) for n, d in dirs.items()}
        natural = sampling.natural_shares(available, names)
        lo, hi = sampling.weight_bounds(cfg, names, available)
        weights = sampling.proxy_weights(cfg, natural, lo, hi)
        return {"dirs": dirs, "names": names, "available": available, "natural": natural, "lo": lo, "hi": hi,
                "weights": weights}

    def prepare(self, partitions: list[Partition], run: RunContext) -> SearchContext:
        """Pack the sources and draw the weights; GPU or not and torch threads per worker as ``ablate`` decides
        them (from the cluster's workers themselves)."""
        from train_smoke.ablate import AblateConfig, AblateStage

        s = self.setup(run)
        cluster = AblateStage(AblateConfig(gpu=self.config.gpu)).prepare(partitions, run)
        cluster = replace(cluster, runs_dir=os.path.join(run.out_dir, PROXIES),
                          work_dir=os.path.join(run.work_dir, PROXIES))
        return SearchContext(dirs=s["dirs"], names=s["names"], weights=s["weights"].tolist(), cluster=cluster)

    def resources(self, part: Partition, ctx: SearchContext | None = None) -> dict[str, float] | None:
        return {"GPU": 1} if ctx is not None and ctx.cluster.gpu else None

    def proxy_config(self, key: str, weights: dict[str, float], dirs: dict[str, str], out: str,
                     threads: int | None) -> TrainConfig:
        """One proxy's train options: the packed sources at its weights, the search's model, budget and seed."""
        from corpus_forge.config import validate

        cfg = self.config
        opts = {**PROXY_TRAIN, **cfg.train, "sources": dirs, "weights": weights, "out": out, "model": cfg.model,
                "tokens": cfg.tokens, "seed": cfg.seed, "eval": cfg.eval, "resume": True, "progress": False}
        if threads and "threads" not in cfg.train:
            opts["threads"] = threads
        return validate(TrainConfig, opts, f"mix-search proxy {key}")

    def process(self, part: Partition, ctx: SearchContext) -> PartitionResult:
        """One proxy in ``OUT/_work/proxies/<key>`` (resumed from its checkpoint after a crash), then moved to
        ``OUT/proxies/<key>``."""
        from train_smoke.pretrain import CHECKPOINT, METRICS, SUMMARY, train

        w = dict(zip(ctx.names, ctx.weights[part.meta["index"]], strict=True))
        c = ctx.cluster
        work, final = os.path.join(c.work_dir, part.key), os.path.join(c.runs_dir, part.key)
        threads = None if c.gpu else (self.config.threads or c.threads_here())
        summary = train(self.proxy_config(part.key, w, ctx.dirs, work, threads))
        make_dirs(final)
        fs, _ = url_to_fs(work)
        for name in (METRICS, SUMMARY):  # copy, then drop the checkpoint, then the rest (as ablate does)
            fs.copy(url_to_fs(os.path.join(work, name))[1], url_to_fs(os.path.join(final, name))[1])
        remove_file(os.path.join(work, CHECKPOINT))
        remove_tree(work)
        row = {"key": part.key, "index": part.meta["index"], "weights": w, "run_dir": final,
               **{k: summary.get(k) for k in ("tokens_seen", "tokens_seen_by_source", "eval_bpb", "val_bpb",
                                              "train_seconds", "seconds", "params", "device", "seed")}}
        return PartitionResult(kept=None, removed=None, counters=Counters(extra={"proxies": [row]}))

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        from train_smoke.search.outcome import conclude

        rows = sorted((r for m in markers for r in m.get("proxies", [])), key=lambda r: r["index"])
        return {"search": conclude(self, run, rows)}

    report_section = staticmethod(report.section)  # its part of report.html
