"""A GPT in one file, nanoGPT-style, with RoPE and RMSNorm (as in nanochat / modded-nanogpt).

Shapes: B batch, T time (<= block_size), C n_embd, nh heads, hs = C // nh head size, V vocab_size.
Pre-norm blocks ``x + attn(norm(x))``, ``x + mlp(norm(x))``; attention through
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels where available); the token
embedding is tied to the output head. Weights start at N(0, 0.02) (GPT-2), the residual projections at
0.02 / sqrt(2 * n_layer) (GPT-2's scaled init), so a tiny model's first steps are cheap on CPU. The initial
weights are drawn on the CPU from a generator seeded by ``seed`` and owned by the model, never from torch's
process-global one: runs that start together in one process (threads of a Dask worker) cannot disturb each
other, and a seed gives the same weights on every device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from train_smoke.config import SIZES


@dataclass
class GPTConfig:
    block_size: int = 1024  # longest context
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    rope_base: float = 10000.0


def config_for(size: str, vocab_size: int, block_size: int | None = None) -> GPTConfig:
    """The :class:`GPTConfig` of a named size, for a tokenizer of ``vocab_size`` ids."""
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r} (one of {', '.join(SIZES)})")
    kw = dict(SIZES[size])
    if block_size is not None:
        kw["block_size"] = block_size
    return GPTConfig(vocab_size=vocab_size, **kw)


def rope_tables(block_size: int, head_size: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (block_size, hs // 2): rotation angle t * base^(-2i/hs) (Su et al. 2021)."""
    inv_freq = base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
    angles = torch.outer(torch.arange(block_size, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x1, x2) of the last dim of x (B, nh, T, hs) by the per-position angles."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).type_as(x)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = nn.RMSNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = nn.RMSNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied (Press & Wolf 2017)
        cos, sin = rope_tables(cfg.block_size, cfg.n_embd // cfg.n_head, cfg.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.init_weights(torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def init_weights(self, gen: torch.Generator) -> None:
        """Every parameter from ``gen`` (in a fixed order), norms at one."""
        for name, p in self.named_parameters():
            if p.dim() < 2:
                p.fill_(1.0)  # RMSNorm gains
                continue
            std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("proj.weight") else 0.02
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std)

    def num_params(self) -> int:
        """Parameter count (the tied embedding once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> logits (B, T, V), and the mean cross-entropy when targets (B, T) are given."""
        B, T = idx.shape
        assert T <= self.config.block_size, f"sequence of {T} tokens, block_size is {self.config.block_size}"
        cos, sin = self.cos[:T], self.sin[:T]  # (T, hs/2), broadcast over (B, nh)
        x = self.wte(idx)  # (B, T, C)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(self.norm_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().view(B * T, -1), targets.reshape(B * T))
        return logits, loss

    def configure_optimizers(self, weight_decay: float, lr: float, betas: tuple[float, float],
                             fused: bool) -> torch.optim.AdamW:
        """AdamW with weight decay on matrices (2D+) only; norms and biases are not decayed (nanoGPT)."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6N + 12 L T C (PaLM appendix B; nanoGPT's estimate_mfu)."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.block_size * c.n_embd


# Dense (not sparse) bf16 tensor-core peak FLOP/s from the vendors' data sheets, for MFU. A key is the
# set of words that must all appear in the device name; the most specific key that matches wins, so the form
# factor decides (H100 PCIe 756, H100 NVL 835, H100 SXM 989), and "L4" never matches an L40 or L40S.
PEAK_BF16_FLOPS: dict[tuple[str, ...], float] = {
    ("H100",): 989e12, ("H100", "SXM5"): 989e12, ("H100", "HBM3"): 989e12,
    ("H100", "PCIE"): 756e12, ("H100", "NVL"): 835e12,
    ("H200",): 989e12, ("H200", "NVL"): 835e12,
    ("GH200",): 989e12,
    ("A100",): 312e12,
    ("L40S",): 362e12, ("L40",): 181e12, ("L4",): 121e12,
    ("A10",): 125e12,
}


def peak_flops(device_name: str) -> float | None:
    """Dense bf16 peak of the named CUDA device, or None when no key matches (MFU is then not reported)."""
    import re

    words = set(re.split(r"[^A-Z0-9]+", device_name.upper()))
    hits = [k for k in PEAK_BF16_FLOPS if set(k) <= words]
    return PEAK_BF16_FLOPS[max(hits, key=len)] if hits else None
