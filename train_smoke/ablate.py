"""``ablate`` step: train the same model on each packed mix, over seeds, at one token budget, and compare.

    corpus-forge ablate ABLATION.yaml --out DIR        (or: a pack --out dir; every mix in it)

One partition (a Dask task) per (mix, seed): ``train`` into ``DIR/runs/<mix>-seed<seed>/``. A seed fixes the
initial weights (the same for every mix, so runs pair by seed) and the data order. Each task asks for a
``GPU`` resource when the cluster has GPU workers (N GPUs run N runs at once: one worker per GPU, e.g.
``dask worker ADDRESS --resources GPU=1`` with its own ``CUDA_VISIBLE_DEVICES``, or dask-cuda's
``LocalCUDACluster``); on CPU the runs share the cores (torch threads = cores / workers). A finished run
has a marker and is not rerun; a run killed midway resumes from its checkpoint. Evaluation is
tokenizer-independent: bits per byte on the fixed texts.

Runs pair by seed on any worker layout: every random draw of a run comes from generators the run owns (not
torch's process-global one, which two runs on a multi-threaded worker would race on), and each worker sets
torch's threads from its own cores and ``nthreads`` (threads of a worker share one torch thread pool). Workers
that run different torch versions are refused before any run (their numbers would not pair).

Writes ``DIR/results.csv`` (one row per run), ``DIR/results.md`` (mean ± std per mix and evaluation text;
per pair of mixes the paired differences by seed, their mean ± std, paired t-test and Welch p-values;
ranking by mean bits per byte over the evaluation texts; the source shares trained), ``DIR/loss.png``
(evaluation-text bits per byte during training, seeds shaded) and ``DIR/bpb.png``
(:mod:`train_smoke.ablate_results`, :mod:`train_smoke.ablate_plots`). ``DIR``, the mixes and the evaluation
texts may be fsspec URLs (``s3://bucket/ablation``).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from corpus_forge.config import ConfigError, StageConfig, load_yaml, validate
from corpus_forge.io import (
    file_size,
    is_dir,
    is_file,
    is_url,
    list_dir,
    make_dirs,
    path_exists,
    remove_file,
    remove_tree,
    safe_key,
    url_to_fs,
)
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters
from train_smoke import ablate_report
from train_smoke.ablate_results import mean_by_mix, ranking, write_results
from train_smoke.config import ModelSize, TrainConfig

RUNS = "runs"
# Filled in per run by ablate itself (the rest of TrainConfig may be set under ``train:``).
RUN_KEYS = {"shards", "out", "model", "tokens", "seed", "eval", "resume", "progress"}


class AblateConfig(StageConfig):
    """An ablation: mixes x seeds, one model and token budget (CONTRACT.md, ``corpus-forge ablate``)."""

    mixes: dict[str, str] = Field(default_factory=dict, json_schema_extra={"cli": False},
                                  description="name: packed mix dir; none = every mix in the input dirs")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], description="seeds (init and data order)")
    model: ModelSize = Field("tiny", description="model size, the same for every run")
    tokens: int = Field(1_200_000, ge=1, description="token budget of every run")
    eval: list[str] | None = Field(None, description="evaluation texts for bits per byte; none = the shipped ones")
    train: dict[str, Any] = Field(default_factory=dict, description="other train options for every run "
                                  "(batch_size, block_size, lr, device, ...)")
    gpu: bool | None = Field(None, description="ask each run for a GPU resource; unset = when the cluster has GPUs")
    threads: int | None = Field(None, ge=1, description="torch threads per run on CPU; none = cores / workers")
    keep_checkpoints: bool = Field(False, description="keep each finished run's ckpt.pt")

    @model_validator(mode="after")
    def _check_train(self) -> AblateConfig:
        clash = sorted(RUN_KEYS & set(self.train))
        if clash:
            raise ValueError(f"train: {', '.join(clash)} are set by the ablation itself, not under train:")
        validate(TrainConfig, {**self.train, "shards": ".", "out": "."}, "ablate.train")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: {self.seeds} lists a seed twice")
        return self


def _is_mix(path: str) -> bool:
    """A packed mix dir (local or URL): ``train-*.bin`` directly inside."""
    return is_dir(path) and any(fnmatch.fnmatchcase(os.path.basename(p), "train-*.bin") for p in list_dir(path))


def _resolved(path: str) -> str:
    """A local path resolved (absolute, symlinks followed); a URL as it is, less a trailing slash."""
    return path.rstrip("/") if is_url(path) else str(Path(path).resolve())


def _name(path: str) -> str:
    return os.path.basename(_resolved(path))


class AblateStage(Stage):
    name = "ablate"
    Config = AblateConfig
    help = "train one model per (mix, seed) at equal tokens; results.csv/md, loss.png, bpb.png"
    report_section = staticmethod(ablate_report.section)  # its part of report.html
    writes_documents = False
    marker_fields = frozenset({"runs"})  # finalize reads each run's summary from its marker
    inputs_metavar = "ABLATION"
    inputs_help = "an ablation YAML (its keys are this step's options), or pack output dirs (every mix in them)"
    config: AblateConfig

    @staticmethod
    def cli_options(options: dict[str, Any], args: Any) -> dict[str, Any]:
        """Options from the ablation YAML given as input; flags and ``--config`` override it."""
        merged: dict[str, Any] = {}
        for path in getattr(args, "inputs", None) or []:
            if path.endswith((".yaml", ".yml")):
                data = load_yaml(path) or {}
                if not isinstance(data, dict):
                    raise ConfigError(f"{path}: expected a mapping (mixes, seeds, model, tokens, ...)")
                base = Path(path).parent

                def near(v: str, base: Path = base, remote: bool = is_url(path)) -> str:
                    """A relative local path: beside the YAML when there (URLs, and beside a remote YAML: as given)."""
                    if remote or is_url(v) or Path(v).is_absolute() or not (base / v).exists():
                        return v
                    return str((base / v).resolve())

                merged.update(data)
                if isinstance(data.get("mixes"), dict):
                    merged["mixes"] = {k: near(str(v)) for k, v in data["mixes"].items()}
                if isinstance(data.get("eval"), list):
                    merged["eval"] = [near(str(v)) for v in data["eval"]]
        return {**merged, **options}

    @staticmethod
    def print_report(stats: dict[str, Any]) -> None:
        a = stats.get("ablation") or {}
        if a and a.get("best"):
            best = a["best"]
            print(f"ablation: {a['runs']} runs, {len(a['mixes'])} mixes x {len(a['seeds'])} seeds; best by mean "
                  f"bits per byte over the evaluation texts: {best} ({a['mean_bpb'][best]:.4f}); "
                  "see results.md, loss.png, bpb.png")

    def check(self) -> None:
        for path in self.config.eval or []:
            if not is_file(path):
                raise ConfigError(f"ablate.eval: evaluation text not found: {path}")

    def mix_dirs(self, inputs: list[str]) -> dict[str, str]:
        """{mix name: dir}: the configured mixes (relative names looked up in the input dirs too), or every
        packed mix in the input dirs."""
        dirs = [str(p) for p in inputs if not p.endswith((".yaml", ".yml"))]
        if not self.config.mixes:
            found = {_name(d): _resolved(d) for d in dirs if _is_mix(d)}
            found.update({_name(m): _resolved(m) for d in dirs if is_dir(d) for m in list_dir(d) if _is_mix(m)})
            if not found:
                raise ConfigError(f"ablate: no mixes given and no packed mix dirs in {inputs}")
            return found
        out = {}
        for name, path in self.config.mixes.items():
            relative = not is_url(path) and not os.path.isabs(path)
            cands = [path] + [os.path.join(d, path) for d in dirs if relative]
            hit = next((c for c in cands if _is_mix(c)), None)
            if hit is None:
                raise ConfigError(f"ablate.mixes.{name}: {path} is not a packed mix dir (no train-*.bin)")
            out[name] = _resolved(hit)
        return out

    def inputs_identity(self, partitions: list[Partition]) -> dict[str, Any]:
        """The packed mixes' manifests (shard and tokenizer sha256s) and the evaluation texts: a mix re-packed
        or a text changed redoes the ablation instead of reusing runs on the old data."""
        from tokenize_bpe.shards import file_sha256

        def identity(d: str) -> Any:
            manifest = os.path.join(d, "manifest.json")
            if path_exists(manifest):
                return file_sha256(manifest)
            return sorted((os.path.basename(p), file_size(p)) for p in list_dir(d) if p.endswith(".bin"))

        mixes = {p.meta["mix"]: identity(p.path) for p in partitions}
        return {"mixes": mixes, "eval": {p: file_sha256(p) for p in self.config.eval or []}}

    def partitions(self, inputs: list[str]) -> list[Partition]:
        # seed-major: the runs of one seed on every mix go first, so a partial ablation still pairs by seed
        mixes = self.mix_dirs(inputs)
        return [Partition(key=f"{safe_key(mix)}-seed{seed}", path=path, meta={"mix": mix, "seed": seed})
                for seed in self.config.seeds for mix, path in mixes.items()]

    def prepare(self, partitions: list[Partition], run: RunContext) -> AblateContext:
        """GPU or not, and torch threads per worker, from the cluster's workers themselves."""
        workers = run.client.scheduler_info().get("workers", {}) if run.client is not None else {}
        has_gpu = any(w.get("resources", {}).get("GPU") for w in workers.values())
        gpu = has_gpu if self.config.gpu is None else self.config.gpu
        threads: dict[str, int] = {}
        if run.client is not None and workers:
            check_same_torch(run.client.run(_torch_version))
            cores = run.client.run(worker_cores)  # {address: cores this worker process may use}
            per_host: dict[str, int] = {}
            for w in workers.values():
                per_host[w["host"]] = per_host.get(w["host"], 0) + int(w.get("nthreads", 1))
            threads = {a: max(1, cores[a] // per_host[w["host"]]) for a, w in workers.items() if a in cores}
        return AblateContext(runs_dir=os.path.join(run.out_dir, RUNS), work_dir=os.path.join(run.work_dir, RUNS),
                             gpu=gpu, threads=threads)

    def resources(self, part: Partition, ctx: AblateContext | None = None) -> dict[str, float] | None:
        return {"GPU": 1} if ctx is not None and ctx.gpu else None

    def run_config(self, part: Partition, runs_dir: str, threads: int | None) -> TrainConfig:
        """The run's train options: the ablation's, the mix, the seed; torch threads unless set under train:."""
        cfg = self.config
        opts = {**cfg.train, "shards": part.path, "out": os.path.join(runs_dir, part.key), "model": cfg.model,
                "tokens": cfg.tokens, "seed": part.meta["seed"], "eval": cfg.eval, "resume": True,
                "progress": False}
        if threads and "threads" not in cfg.train:
            opts["threads"] = threads
        return validate(TrainConfig, opts, f"ablate run {part.key}")

    def process(self, part: Partition, ctx: AblateContext) -> PartitionResult:
        """One training run in ``OUT/_work/runs/<key>`` (resumed from its checkpoint when an earlier attempt
        died; the runner clears the work folder when the mixes change), then moved to ``OUT/runs/<key>``."""
        from train_smoke.pretrain import CHECKPOINT, METRICS, SUMMARY, train

        tcfg = self.run_config(part, ctx.work_dir, None if ctx.gpu else ctx.threads_here())
        summary = train(tcfg)
        work, final = tcfg.out, os.path.join(ctx.runs_dir, part.key)
        make_dirs(final)
        keep = [METRICS, SUMMARY] + ([CHECKPOINT] if self.config.keep_checkpoints else [])
        fs, _ = url_to_fs(work)
        # Copy, then drop the checkpoint, then the rest: a run killed at any point here is either resumed at
        # its last step (checkpoint and metrics still in the work folder) or trained again from the start
        # (checkpoint gone), never left with partial metrics.
        for name in keep:
            fs.copy(url_to_fs(os.path.join(work, name))[1], url_to_fs(os.path.join(final, name))[1])
        remove_file(os.path.join(work, CHECKPOINT))
        remove_tree(work)
        summary = {**summary, "mix": part.meta["mix"], "run_dir": final}
        return PartitionResult(kept=None, removed=None, counters=Counters(extra={"runs": [summary]}))

    def finalize(self, run: RunContext, counters: Counters, markers: list[dict[str, Any]]) -> dict[str, Any]:
        runs = sorted((r for m in markers for r in m.get("runs", [])), key=lambda r: (r["mix"], r["seed"]))
        order = list(self.config.mixes) or sorted({r["mix"] for r in runs})
        write_results(runs, order, run.out_dir)
        return {"ablation": {"runs": len(runs), "mixes": order, "seeds": self.config.seeds,
                             "tokens": self.config.tokens, "model": self.config.model,
                             "best": ranking(runs, order)[0] if runs else None,
                             "ranked_by": "mean bits per byte over the evaluation texts",
                             "mean_bpb": mean_by_mix(runs, order),
                             "mean_val_bpb": mean_by_mix(runs, order, "val_bpb"),
                             "outputs": ["results.csv", "results.md", "loss.png", "bpb.png"]}}


@dataclass(frozen=True)
class AblateContext:
    """What every run task gets: where runs go, GPU or not, torch threads per worker address."""

    runs_dir: str
    work_dir: str
    gpu: bool
    threads: dict[str, int]

    def threads_here(self) -> int:
        """Torch threads for a run on this worker: its share of the worker's cores (cores / nthreads)."""
        try:
            from distributed import get_worker

            w = get_worker()
            return self.threads.get(w.address) or max(1, worker_cores() // max(1, w.state.nthreads))
        except ValueError:  # not on a worker
            return worker_cores()


def worker_cores() -> int:
    """The cores this process may run on (its CPU affinity, which container limits narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _torch_version() -> str:
    import torch

    return torch.__version__


def check_same_torch(versions: dict[str, str]) -> None:
    """Refuse workers that run different torch versions: the same seed would not give the same numbers."""
    if len(set(versions.values())) > 1:
        seen = ", ".join(sorted({f"{v} ({a})" for a, v in versions.items()}))
        raise ConfigError(f"ablate: the workers run different torch versions ({seen}); runs would not pair by "
                          "seed: start every worker from one environment")
