"""Every option of ``corpus-forge train``, declared once (YAML keys and ``--flags`` both come from here).

Kept free of torch so that ``corpus-forge --help`` stays fast.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from corpus_forge.config import StageConfig

# Named model sizes (n_layer, n_head, n_embd, block_size). gpt2-124m is GPT-2 small (Radford et al. 2019),
# nanoGPT's default; tiny (~0.4M + vocab * 128 parameters) is a CPU smoke test.
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(n_layer=2, n_head=2, n_embd=128, block_size=128),
    "mini": dict(n_layer=4, n_head=4, n_embd=256, block_size=256),
    "small": dict(n_layer=6, n_head=6, n_embd=384, block_size=512),
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024),
}
ModelSize = Literal["tiny", "mini", "small", "gpt2-124m"]

# Peak learning rate per size: GPT-3 (Brown et al. 2020, table 2.1) gives 6e-4 at 125M; smaller models
# take larger steps (nanoGPT's 10M shakespeare-char model uses 1e-3).
DEFAULT_LR = {"tiny": 2e-3, "mini": 1e-3, "small": 1e-3, "gpt2-124m": 6e-4}


_DIR, _FILE = {"metavar": "DIR"}, {"metavar": "FILE"}


class TrainConfig(StageConfig):
    """Every option of ``corpus-forge train`` (YAML keys = flag names with ``_``)."""

    shards: str | None = Field(None, json_schema_extra=_DIR,
                               description="packed mix dir, local or URL (train-*.bin, val-*.bin, manifest.json)")
    sources: dict[str, str] | None = Field(None, json_schema_extra={"cli": False},
                                           description="instead of shards: name -> packed mix dir, trained at "
                                                       "`weights` (mix search proxies: no re-pack)")
    weights: dict[str, float] | None = Field(None, json_schema_extra={"cli": False},
                                             description="with sources: name -> share of the tokens trained")
    out: str = Field(json_schema_extra=_DIR,
                     description="output dir, local or URL (s3://...): metrics.jsonl, summary.json, ckpt.pt")
    model: ModelSize = Field("tiny", description="model size")
    block_size: int | None = Field(None, ge=8, description="context length; none = the size's")
    vocab_size: int | None = Field(None, ge=2, description="embedding rows, at least the tokenizer's ids; none = "
                                   "the tokenizer's (nanoGPT pads GPT-2's 50,257 to 50,304, a multiple of 64)")
    batch_size: int = Field(8, ge=1, description="sequences per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    tokens: int | None = Field(None, ge=1, description="token budget; none = one pass over the train split")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps (overrides --tokens)")
    lr: float | None = Field(None, gt=0, description="peak learning rate; none = per size (6e-4 for gpt2-124m, GPT-3)")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="final lr as a share of the peak (GPT-3: 0.1)")
    warmup_steps: int | None = Field(None, ge=0, description="linear warmup steps; none = 1 in 20 of the steps")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay on matrices (GPT-3: 0.1)")
    beta1: float = Field(0.9, gt=0, lt=1, description="AdamW beta1")
    beta2: float = Field(0.95, gt=0, lt=1, description="AdamW beta2 (GPT-3: 0.95)")
    grad_clip: float = Field(1.0, ge=0, description="clip the gradient norm to this (0: off; GPT-3: 1.0)")
    seed: int = Field(0, description="seeds the initial weights and the data order")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    dtype: Literal["auto", "float32", "bfloat16"] = Field("auto", description="auto: bf16 on CUDA, fp32 on CPU")
    compile: bool | None = Field(None, description="torch.compile the model; unset = on CUDA only")
    align_docs: bool = Field(True, description="snap each window's start back to a document start inside its "
                             "step (.idx); every token is still trained about once per epoch")
    eval_every: int | None = Field(None, ge=1, description="steps between val-loss evaluations; none = 10 per run")
    val_tokens: int = Field(65536, ge=1, description="tokens of the val split scored at each evaluation")
    curve_bytes: int = Field(32768, ge=256, description="bytes of each evaluation text scored at each evaluation "
                             "(the curve in metrics.jsonl and loss.png); the whole texts are scored at the end")
    eval: list[str] | None = Field(None, json_schema_extra=_FILE,
                                   description="evaluation text for bits per byte (.txt, .gz); none = the shipped ones")
    hellaswag: bool | None = Field(None, description="zero-shot HellaSwag at the end; unset = on CUDA only")
    hellaswag_items: int = Field(500, ge=1, le=500, description="HellaSwag validation items scored")
    checkpoint_every: int = Field(500, ge=1, description="steps between checkpoints (one more at the end)")
    log_every: int = Field(10, ge=1, description="steps between metrics.jsonl rows")
    resume: bool = Field(False, description="continue from OUT/ckpt.pt (same loss curve)")
    tokenizer: str | None = Field(None,
                                  description="tokenizer.json or its dir (local or URL); none = the mix manifest's")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; none = torch's default")
    progress: bool = Field(True, description="show a progress bar")

    @model_validator(mode="after")
    def _one_data_source(self) -> TrainConfig:
        if (self.shards is None) == (self.sources is None):
            raise ValueError("shards: give either shards (one packed mix) or sources with weights")
        if self.sources is not None:
            if not self.weights or set(self.weights) != set(self.sources):
                raise ValueError("weights: give one weight per source (the same names as sources)")
            if any(w < 0 for w in self.weights.values()) or abs(sum(self.weights.values()) - 1) > 1e-6:
                raise ValueError(f"weights: {self.weights} must be >= 0 and sum to 1")
        return self


# Options that shape the loss curve: a resumed run must not change them.
CURVE_KEYS = ("model", "block_size", "batch_size", "grad_accum", "lr", "min_lr_ratio", "warmup_steps",
              "weight_decay", "beta1", "beta2", "grad_clip", "seed", "align_docs", "dtype", "weights",
              "vocab_size")


