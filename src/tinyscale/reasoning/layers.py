"""The layers the reasoning models share: post-norm blocks, their FLOPs, and the model base.

A block mixes positions either with attention (RoPE) or, in the ``mlp_t``
variant, with a SwiGLU MLP along the sequence (no position encoding), then
mixes channels with a SwiGLU MLP; both residuals are followed by a
parameter-free RMSNorm (post-norm). Linear layers have no bias except the Q
head's (weights 0, bias -5: a model starts by not halting).

:class:`SequenceModel` holds what TRM, HRM and the plain transformer have in
common (the input embedding with its optional puzzle prefix, the answer and
Q heads), under the attribute names TRM's saved models use.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .models import ModelConfig


def swiglu_width(hidden: int, expansion: float) -> int:
    """The inner width of a SwiGLU MLP: 2/3 of ``expansion x hidden``, rounded up to 256."""
    return 256 * math.ceil(round(expansion * hidden * 2 / 3) / 256)


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    dtype = x.dtype
    x = x.float()
    return (x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)).to(dtype)


class SwiGLU(nn.Module):
    def __init__(self, width: int, expansion: float):
        super().__init__()
        inner = swiglu_width(width, expansion)
        self.gate_up = nn.Linear(width, 2 * inner, bias=False)
        self.down = nn.Linear(inner, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


def rope_tables(positions: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(positions, dtype=torch.float32), inv)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.hidden % cfg.heads:
            raise ValueError(f"hidden {cfg.hidden} is not a multiple of heads {cfg.heads}")
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden, bias=False)
        self.out = nn.Linear(cfg.hidden, cfg.hidden, bias=False)
        cos, sin = rope_tables(cfg.positions, cfg.hidden // cfg.heads, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, self.cos, self.sin), apply_rope(k, self.cos, self.sin)
        y = F.scaled_dot_product_attention(q, k, v)   # no mask: every cell sees every cell
        return self.out(y.transpose(1, 2).reshape(b, s, h))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.eps = cfg.norm_eps
        self.mlp_t = cfg.mixer == "mlp_t"
        self.mix = SwiGLU(cfg.positions, cfg.expansion) if self.mlp_t else Attention(cfg)
        self.mlp = SwiGLU(cfg.hidden, cfg.expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mlp_t:
            x = rms_norm(x + self.mix(x.transpose(1, 2)).transpose(1, 2), self.eps)
        else:
            x = rms_norm(x + self.mix(x), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


def block_flops(cfg: ModelConfig) -> int:
    """Multiply-adds x 2 of one block for one example: 2 x in x out per position for every
    Linear, plus attention's scores and mix (2 x 2 x positions^2 x hidden)."""
    s, h = cfg.positions, cfg.hidden
    inner = swiglu_width(h, cfg.expansion)
    channel = 2 * s * (h * 2 * inner + inner * h)
    if cfg.mixer == "mlp_t":
        t_inner = swiglu_width(s, cfg.expansion)
        mix = 2 * h * (s * 2 * t_inner + t_inner * s)
    else:
        mix = 2 * s * (h * 3 * h + h * h) + 2 * 2 * s * s * h
    return channel + mix


def head_flops(cfg: ModelConfig) -> int:
    """The answer head on the board's cells and the Q head on position 0."""
    return 2 * cfg.seq_len * cfg.hidden * cfg.vocab_size + 2 * cfg.hidden * 2


class SequenceModel(nn.Module):
    """The embedding and heads of every arch; subclasses add their blocks between
    ``__init__`` and :meth:`add_heads` (that order keeps a seed's initial weights)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden)
        nn.init.trunc_normal_(self.embed.weight, std=1.0 / math.sqrt(cfg.hidden))
        width = cfg.puzzle_emb_width or cfg.puzzle_emb_len * cfg.hidden
        if width > cfg.puzzle_emb_len * cfg.hidden:
            raise ValueError(f"puzzle_emb_width {width} does not fit {cfg.puzzle_emb_len} positions "
                             f"of width {cfg.hidden}")
        # zero-initialised, trained by the same optimizer as the rest (the TPU fork forgot it)
        self.puzzle_emb = nn.Embedding(cfg.puzzle_ids, width) if cfg.puzzle_emb_len else None
        if self.puzzle_emb is not None:
            nn.init.zeros_(self.puzzle_emb.weight)

    def add_heads(self) -> None:
        self.lm_head = nn.Linear(self.cfg.hidden, self.cfg.vocab_size, bias=False)
        self.q_head = nn.Linear(self.cfg.hidden, 2, bias=True)
        nn.init.zeros_(self.q_head.weight)
        nn.init.constant_(self.q_head.bias, -5.0)

    def input_embedding(self, inputs: torch.Tensor, puzzle_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(inputs)
        if self.puzzle_emb is not None:
            p = self.puzzle_emb(puzzle_ids)
            p = F.pad(p, (0, self.cfg.puzzle_emb_len * self.cfg.hidden - p.shape[-1]))
            x = torch.cat([p.view(-1, self.cfg.puzzle_emb_len, self.cfg.hidden).to(x.dtype), x], dim=1)
        return x * math.sqrt(self.cfg.hidden)

    def readout(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, seq, vocab)`` of the board's cells, and q ``(B, 2)``: (halt, continue)."""
        return self.lm_head(h[:, self.cfg.puzzle_emb_len:]), self.q_head(h[:, 0])

    def fixed_state(self, init: torch.Tensor, batch: int, device: torch.device,
                    dtype: torch.dtype) -> torch.Tensor:
        """``init`` (hidden,) at every position of ``batch`` samples: where a sample (re)starts."""
        shape = (batch, self.cfg.positions, self.cfg.hidden)
        return init.to(dtype).expand(shape).to(device).clone()
