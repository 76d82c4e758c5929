"""Every option of ``corpus-forge mix search``, declared once (the search YAML's keys; CONTRACT.md).

Kept free of torch and LightGBM so that ``corpus-forge --help`` stays fast.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from corpus_forge.config import StageConfig, validate
from train_smoke.config import ModelSize, TrainConfig

# Filled in per proxy by the search itself (the rest of TrainConfig may be set under ``train:``).
RUN_KEYS = {"shards", "sources", "weights", "out", "model", "tokens", "seed", "eval", "resume", "progress"}
MEAN = "mean"  # the target "mean bits per byte over the evaluation texts"


class Bound(StageConfig):
    """Limits on one source's weight."""

    min: float = Field(0.0, ge=0, le=1, description="smallest share of the trained tokens")
    max: float = Field(1.0, ge=0, le=1, description="largest share of the trained tokens")
    max_epochs: float | None = Field(None, gt=0, description="most passes over this source at the verification "
                                     "budget; none = the search's max_epochs")

    @model_validator(mode="after")
    def _order(self) -> Bound:
        if self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self


class Verify(StageConfig):
    """The verification: the found mix, the natural token shares and equal weights, through ``ablate``."""

    tokens: int = Field(1_000_000, ge=1, description="token budget of every verification run (the final budget)")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1,
                             description="seeds of the verification runs (paired by seed)")


class SearchConfig(StageConfig):
    """A mixture search (RegMix, Liu et al. 2024): proxies on random weights, a regression, verification."""

    tokenizer: str | None = Field(None, json_schema_extra={"metavar": "DIR"},
                                  description="bpe --out folder, to pack sources that are not packed yet "
                                  "(none: every source is a packed dir, and its manifest names the tokenizer)")
    sources: dict[str, str] = Field(default_factory=dict, json_schema_extra={"cli": False},
                                    description="name: a stage output dir, text / JSONL / Parquet files or "
                                    "folders (packed once each), or a packed source dir (train-*.bin)")
    bounds: dict[str, Bound] = Field(default_factory=dict, json_schema_extra={"cli": False},
                                     description="per source: min / max weight, max_epochs")
    max_epochs: float = Field(4.0, gt=0, description="most passes over any source at the verification budget "
                              "(Muennighoff et al. 2023: up to 4 epochs are about as good as new data)")
    proxies: int = Field(32, ge=5, description="proxy runs on random weights (RegMix: 512 at 1M parameters)")
    model: ModelSize = Field("tiny", description="proxy model size (also the verification runs')")
    tokens: int = Field(200_000, ge=1, description="token budget of every proxy")
    seed: int = Field(0, description="initial weights of every proxy, and the draws of the weights")
    eval: list[str] | None = Field(None, description="evaluation texts (bits per byte per text, the regression "
                                   "targets); none = the shipped ones")
    target: str = Field(MEAN, description="what the found mix minimises: 'mean' (bits per byte averaged over "
                        "the evaluation texts) or one evaluation text's name (its file stem)")
    verify: Verify = Field(default_factory=Verify, json_schema_extra={"cli": False},
                           description="tokens and seeds of the verification runs")
    regression: Literal["auto", "lightgbm", "linear"] = Field(
        "auto", description="weights -> bits-per-byte model: lightgbm (RegMix), linear (least squares on the "
        "weights), or auto (the one with the smaller cross-validated error on the target)")
    candidates: int = Field(100_000, ge=100, description="candidate weights scored by the regression")
    top_k: int = Field(100, ge=1, description="the found mix is the mean of the top_k candidates' weights "
                       "(RegMix averages the top predictions: one point sits on the regression's noise)")
    temperature: float = Field(0.5, gt=0, le=1, description="Dirichlet centre: natural shares ** temperature, "
                               "renormalised (RegMix: 0.5, so small sources are sampled too)")
    min_strength: float = Field(0.1, gt=0, description="smallest Dirichlet concentration (near-corner "
                                "mixtures; RegMix: 0.1)")
    max_strength: float = Field(5.0, gt=0, description="largest Dirichlet concentration (near the centre; "
                                "RegMix: 5.0)")
    val_fraction: float = Field(0.01, ge=0, lt=1, description="documents held out by id when a source is packed")
    shard_tokens: int = Field(100_000_000, gt=0, description="tokens per shard when a source is packed")
    train: dict[str, Any] = Field(default_factory=dict, json_schema_extra={"cli": False},
                                  description="other train options of every proxy and verification run "
                                  "(batch_size, block_size, lr, device, ...)")
    gpu: bool | None = Field(None, description="ask each run for a GPU resource; unset = when the cluster has GPUs")
    threads: int | None = Field(None, ge=1, description="torch threads per run on CPU; none = cores / workers")

    @model_validator(mode="after")
    def _check(self) -> SearchConfig:
        if len(self.sources) < 2:
            raise ValueError("sources: name at least two sources to mix")
        for name in self.sources:
            if not name or "/" in name or name.startswith((".", "_")) or name == MEAN:
                raise ValueError(f"sources: {name!r} must be a plain folder name (and not 'mean')")
        unknown = sorted(set(self.bounds) - set(self.sources))
        if unknown:
            raise ValueError(f"bounds: {unknown[0]!r} is not a source (sources: {', '.join(self.sources)})")
        if sum(b.min for b in self.bounds.values()) > 1:
            raise ValueError("bounds: the minimum weights add up to more than 1")
        if self.min_strength > self.max_strength:
            raise ValueError(f"min_strength {self.min_strength} > max_strength {self.max_strength}")
        if self.top_k > self.candidates:
            raise ValueError(f"top_k {self.top_k} > candidates {self.candidates}")
        clash = sorted(RUN_KEYS & set(self.train))
        if clash:
            raise ValueError(f"train: {', '.join(clash)} are set by the search itself, not under train:")
        validate(TrainConfig, {**self.train, "shards": ".", "out": "."}, "mix-search.train")
        if len(set(self.verify.seeds)) != len(self.verify.seeds):
            raise ValueError(f"verify.seeds: {self.verify.seeds} lists a seed twice")
        return self

    def bound(self, name: str) -> Bound:
        return self.bounds.get(name) or Bound()
