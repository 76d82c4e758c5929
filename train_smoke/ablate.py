"""``ablate`` step: train the same model on each packed mix, over seeds, at one token budget, and compare.

    corpus-forge ablate ABLATION.yaml --out DIR        (or: a pack --out dir; every mix in it)

One partition (a Dask task) per (mix, seed): ``train`` into ``DIR/runs/<mix>-seed<seed>/``. A seed fixes the
initial weights (the same for every mix, so runs pair by seed) and the data order. Each task asks for a
``GPU`` resource when the cluster has GPU workers (N GPUs run N runs at once: one worker per GPU, e.g.
``dask worker ADDRESS --resources GPU=1`` with its own ``CUDA_VISIBLE_DEVICES``, or dask-cuda's
``LocalCUDACluster``); on CPU the runs share the cores (torch threads = cores / workers). A finished run
has a marker and is not rerun; a run killed midway resumes from its checkpoint. Evaluation is
tokenizer-independent: bits per byte on the fixed texts.

Writes ``DIR/results.csv`` (one row per run), ``DIR/results.md`` (mean ± std per mix and evaluation text;
per pair of mixes the paired differences by seed, their mean ± std, paired t-test and Welch p-values;
ranking), ``DIR/loss.png`` (validation loss per mix, seeds shaded) and ``DIR/bpb.png``. ``DIR``, the mixes
and the evaluation texts may be fsspec URLs (``s3://bucket/ablation``).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from corpus_forge.config import ConfigError, StageConfig, load_yaml, validate
from corpus_forge.io import (
    atomic_path,
    file_size,
    is_dir,
    is_file,
    is_url,
    list_dir,
    make_dirs,
    path_exists,
    read_text,
    remove_file,
    remove_tree,
    safe_key,
    url_to_fs,
    write_text_atomic,
)
from corpus_forge.stage import Partition, PartitionResult, RunContext, Stage
from corpus_forge.stats import Counters
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
    writes_documents = False
    inputs_metavar = "ABLATION"
    inputs_help = "an ablation YAML (its keys are this step's options), or pack output dirs (every mix in them)"
    config: AblateConfig

    def __init__(self, config: AblateConfig | None = None) -> None:
        super().__init__(config)
        self._gpu = bool(self.config.gpu)
        self._mixes: dict[str, str] = {}  # set by partitions()

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
        if a:
            best = min(a["mean_val_bpb"], key=lambda m: a["mean_val_bpb"][m])
            print(f"ablation: {a['runs']} runs, {len(a['mixes'])} mixes x {len(a['seeds'])} seeds; "
                  f"best mean val_bpb: {best} ({a['mean_val_bpb'][best]:.4f}); see results.md, loss.png, bpb.png")

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

    def inputs_identity(self) -> dict[str, Any]:
        """The packed mixes' manifests (shard and tokenizer sha256s) and the evaluation texts: a mix re-packed
        or a text changed redoes the ablation instead of reusing runs on the old data."""
        from tokenize_bpe.shards import file_sha256

        def identity(d: str) -> Any:
            manifest = os.path.join(d, "manifest.json")
            if path_exists(manifest):
                return file_sha256(manifest)
            return sorted((os.path.basename(p), file_size(p)) for p in list_dir(d) if p.endswith(".bin"))

        mixes = {m: identity(d) for m, d in self._mixes.items()}
        return {"mixes": mixes, "eval": {p: file_sha256(p) for p in self.config.eval or []}}

    def partitions(self, inputs: list[str]) -> list[Partition]:
        # seed-major: the runs of one seed on every mix go first, so a partial ablation still pairs by seed
        mixes = self._mixes = self.mix_dirs(inputs)
        return [Partition(key=f"{safe_key(mix)}-seed{seed}", path=path, meta={"mix": mix, "seed": seed})
                for seed in self.config.seeds for mix, path in mixes.items()]

    def prepare(self, partitions: list[Partition], run: RunContext) -> dict[str, Any]:
        """Decide GPU annotation and CPU threads from the cluster's workers."""
        workers = run.client.scheduler_info().get("workers", {}) if run.client is not None else {}
        has_gpu = any(w.get("resources", {}).get("GPU") for w in workers.values())
        self._gpu = has_gpu if self.config.gpu is None else self.config.gpu
        threads = self.config.threads or max(1, (os.cpu_count() or 1) // max(1, len(workers)))
        return {"runs_dir": os.path.join(run.out_dir, RUNS), "work_dir": os.path.join(run.work_dir, RUNS),
                "threads": None if self._gpu else threads}

    def resources(self, part: Partition) -> dict[str, float] | None:
        return {"GPU": 1} if self._gpu else None

    def run_config(self, part: Partition, runs_dir: str, threads: int | None) -> TrainConfig:
        cfg = self.config
        opts = {**cfg.train, "shards": part.path, "out": os.path.join(runs_dir, part.key), "model": cfg.model,
                "tokens": cfg.tokens, "seed": part.meta["seed"], "eval": cfg.eval, "resume": True,
                "progress": False}
        if threads and "threads" not in cfg.train:
            opts["threads"] = threads
        return validate(TrainConfig, opts, f"ablate run {part.key}")

    def process(self, part: Partition, ctx: dict[str, Any]) -> PartitionResult:
        """One training run in ``OUT/_work/runs/<key>`` (resumed from its checkpoint when an earlier attempt
        died; the runner clears the work folder when the mixes change), then moved to ``OUT/runs/<key>``."""
        from train_smoke.train import CHECKPOINT, METRICS, SUMMARY, train

        tcfg = self.run_config(part, ctx["work_dir"], ctx["threads"])
        summary = train(tcfg)
        work, final = tcfg.out, os.path.join(ctx["runs_dir"], part.key)
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
                             "mean_val_bpb": {m: _mean([r["val_bpb"] for r in runs if r["mix"] == m])
                                              for m in order},
                             "outputs": ["results.csv", "results.md", "loss.png", "bpb.png"]}}


# ---------------------------------------------------------------- results


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _std(xs: list[float]) -> float:
    """Sample standard deviation (n - 1); nan below two values."""
    if len(xs) < 2:
        return math.nan
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def paired_p(diffs: list[float]) -> float:
    """Two-sided paired t-test p-value of per-seed differences (nan below two pairs)."""
    from scipy import stats

    if len(diffs) < 2:
        return math.nan
    if _std(diffs) == 0:
        return 0.0 if _mean(diffs) != 0 else 1.0
    return float(stats.ttest_1samp(diffs, 0.0).pvalue)


def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided Welch (unequal variances) t-test p-value (nan below two runs per side)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return math.nan
    if _std(a) == 0 and _std(b) == 0:
        return 0.0 if _mean(a) != _mean(b) else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _metrics(runs: list[dict[str, Any]]) -> list[str]:
    """Columns to compare: combined val_bpb, then each evaluation text's."""
    names = sorted({n for r in runs for n in r.get("eval_bpb", {})})
    return ["val_bpb"] + [f"bpb_{n}" for n in names]


def _value(run: dict[str, Any], metric: str) -> float:
    return run["val_bpb"] if metric == "val_bpb" else run["eval_bpb"][metric.removeprefix("bpb_")]


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.3g}"


def results_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One CSV row per run: mix, seed, the summary fields, bpb_<name> per evaluation text."""
    rows = []
    for r in runs:
        row = {"mix": r["mix"], "seed": r["seed"]}
        row.update({k: v for k, v in r.items() if k not in ("mix", "seed", "eval_bpb") and not isinstance(v, dict)})
        row.update({f"bpb_{n}": v for n, v in sorted(r.get("eval_bpb", {}).items())})
        rows.append(row)
    return rows


def results_markdown(runs: list[dict[str, Any]], order: list[str]) -> str:
    metrics = _metrics(runs)
    hs = any(r.get("hellaswag_acc") is not None for r in runs)  # zero-shot HellaSwag (on by default on GPU)
    by_mix = {m: [r for r in runs if r["mix"] == m] for m in order}
    first = runs[0] if runs else {}
    lines = ["# Ablation", "",
             f"Model `{first.get('model')}`, {first.get('tokens_seen', 0):,} tokens per run, seeds "
             f"{sorted({r['seed'] for r in runs})}. Bits per byte (lower is better) on the fixed evaluation texts; "
             "`val_loss` is each mix's own validation split (not comparable across mixes). Mean ± std over seeds.",
             "", "| mix | runs | val_loss | " + " | ".join(metrics) + (" | hellaswag_acc" if hs else "") + " |",
             "|---|---|---|" + "---|" * (len(metrics) + hs)]
    for m, rs in by_mix.items():
        cols = [[r["val_loss"] for r in rs]] + [[_value(r, k) for r in rs] for k in metrics]
        if hs:
            cols.append([r["hellaswag_acc"] for r in rs if r.get("hellaswag_acc") is not None])
        cells = [f"{_fmt(_mean(c))} ± {_fmt(_std(c))}" for c in cols]
        lines.append(f"| {m} | {len(rs)} | " + " | ".join(cells) + " |")
    lines += ["", "## Pairs", "",
              "Difference a − b per seed (negative: a is better), paired t-test and Welch p-values (two-sided). "
              "*Beyond seed spread*: every seed's difference has the same sign and |mean| > 2 std of the differences.",
              "",
              "| a | b | metric | per-seed differences | mean ± std | paired p | Welch p | beyond seed spread |",
              "|---|---|---|---|---|---|---|---|"]
    for a, b in itertools.combinations(order, 2):
        ra = {r["seed"]: r for r in by_mix[a]}
        rb = {r["seed"]: r for r in by_mix[b]}
        seeds = sorted(set(ra) & set(rb))
        for k in metrics:
            d = [_value(ra[s], k) - _value(rb[s], k) for s in seeds]
            mean, std = _mean(d), _std(d)
            same_sign = bool(d) and (all(x < 0 for x in d) or all(x > 0 for x in d))
            beyond = "yes" if same_sign and len(d) > 1 and abs(mean) > 2 * std else "no"
            per = ", ".join(f"s{s}: {x:+.4f}" for s, x in zip(seeds, d, strict=True))
            pw = welch_p([_value(r, k) for r in by_mix[a]], [_value(r, k) for r in by_mix[b]])
            lines.append(f"| {a} | {b} | {k} | {per} | {mean:+.4f} ± {_fmt(std)} | {_fmt_p(paired_p(d))} | "
                         f"{_fmt_p(pw)} | {beyond} |")
    ranked = sorted(order, key=lambda m: _mean([r["val_bpb"] for r in by_mix[m]]))
    lines += ["", "## Ranking (mean val_bpb, best first)", ""]
    lines += [f"{i}. {m}: {_fmt(_mean([r['val_bpb'] for r in by_mix[m]]))}" for i, m in enumerate(ranked, 1)]
    lines += ["", "Plots: [loss.png](loss.png) (validation loss), [bpb.png](bpb.png) (final bits per byte).", ""]
    return "\n".join(lines)


def _val_curve(run_dir: str) -> tuple[list[int], list[float]]:
    steps, losses = [], []
    path = os.path.join(run_dir, "metrics.jsonl")
    if path_exists(path):
        for line in read_text(path).splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if "val_loss" in row:
                steps.append(row["step"])
                losses.append(row["val_loss"])
    return steps, losses


def plot_loss(runs: list[dict[str, Any]], order: list[str], path: str | Path) -> None:
    """Validation loss against tokens per mix: the mean over seeds, min-max over seeds shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in order:
        curves = [_val_curve(r["run_dir"]) for r in runs if r["mix"] == m]
        curves = [c for c in curves if c[0]]
        if not curves:
            continue
        n = min(len(c[0]) for c in curves)
        run = next(r for r in runs if r["mix"] == m)
        x = np.array(curves[0][0][:n]) * run["tokens_seen"] / run["steps"]
        ys = np.array([c[1][:n] for c in curves])
        (line,) = ax.plot(x, ys.mean(0), label=f"{m} ({len(curves)} seeds)")
        ax.fill_between(x, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("tokens")
    ax.set_ylabel("validation loss (own val split, nats/token)")
    ax.set_title("Validation loss per mix")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_bpb(runs: list[dict[str, Any]], order: list[str], path: str | Path) -> None:
    """Final bits per byte per mix and evaluation text, bars at the mean, error bars one std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = _metrics(runs)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(metrics) * len(order) / 2), 4.5))
    width = 0.8 / max(1, len(order))
    for i, m in enumerate(order):
        rs = [r for r in runs if r["mix"] == m]
        means = [_mean([_value(r, k) for r in rs]) for k in metrics]
        stds = [0.0 if math.isnan(s) else s for s in (_std([_value(r, k) for r in rs]) for k in metrics)]
        ax.bar(np.arange(len(metrics)) + i * width, means, width, yerr=stds, capsize=4, label=m)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(order) - 1) / 2)
    ax.set_xticklabels([k.removeprefix("bpb_") for k in metrics])
    ax.set_ylabel("bits per byte (lower is better)")
    ax.set_title("Final bits per byte, mean ± std over seeds")
    lo = min((_value(r, k) for r in runs for k in metrics), default=0)
    ax.set_ylim(max(0, lo - 0.3), None)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(runs: list[dict[str, Any]], order: list[str], out: str | Path) -> None:
    """results.csv, results.md, loss.png, bpb.png in ``out`` (a local folder or a URL)."""
    out = str(out)
    rows = results_rows(runs)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(os.path.join(out, "results.csv"), buf.getvalue())
    write_text_atomic(os.path.join(out, "results.md"), results_markdown(runs, order))
    for name, plot in (("loss.png", plot_loss), ("bpb.png", plot_bpb)):
        with atomic_path(os.path.join(out, name)) as tmp:
            plot(runs, order, tmp)

