"""TRM, the Tiny Recursive Model (seeds 001/002), with deep supervision and halting.

One small network (``L_layers`` post-norm blocks) is applied recursively to
two carried states: the answer ``y`` and the latent ``z``. A *recursion* is
``L_cycles`` (n) updates ``z = net(z + y + x)`` followed by ``y = net(y + z)``;
a *supervision step* runs ``H_cycles - 1`` (T - 1) recursions without
gradient and one with (the one-step-gradient form), then reads the answer
from ``y`` and a halting logit from position 0. Between supervision steps
(up to ``halt_max_steps``, Nsup) the carried (y, z) are detached.

A block mixes positions either with attention (RoPE) or, in the ``mlp_t``
variant, with a SwiGLU MLP along the sequence (no position encoding), then
mixes channels with a SwiGLU MLP; both residuals are followed by a
parameter-free RMSNorm (post-norm). Linear layers have no bias except the Q
head's (weights 0, bias -5: the model starts by not halting).

Parameter counts (the paper's Sudoku model: hidden 512, expansion 4, two
layers, 16 puzzle-embedding positions): 5.0M for ``mlp_t``, 6.8M with
attention, as in the paper (tests/test_trm.py counts them).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TRMConfig:
    seq_len: int                  # board cells (81 for 9x9)
    vocab_size: int               # PAD, blank, digits
    hidden: int = 512
    expansion: float = 4.0        # SwiGLU width = expansion x hidden (x 2/3, rounded up to 256)
    L_layers: int = 2
    H_cycles: int = 3             # T
    L_cycles: int = 6             # n
    mixer: str = "mlp_t"          # mlp_t | attention
    heads: int = 8
    puzzle_emb_len: int = 0       # prefix positions of the puzzle embedding (0 = none)
    puzzle_emb_width: int = 0     # its width (0 = puzzle_emb_len x hidden)
    puzzle_ids: int = 1           # distinct puzzle identifiers (Sudoku: one, id 0)
    halt_max_steps: int = 16      # Nsup
    halt_exploration: float = 0.1
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @classmethod
    def from_dict(cls, d: dict) -> "TRMConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def positions(self) -> int:
        return self.seq_len + self.puzzle_emb_len


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
    def __init__(self, cfg: TRMConfig):
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
    def __init__(self, cfg: TRMConfig):
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


class TRM(nn.Module):
    """The recursive core: ``forward(carry, inputs, puzzle_ids)`` is one supervision step."""

    def __init__(self, cfg: TRMConfig):
        super().__init__()
        if cfg.mixer not in ("mlp_t", "attention"):
            raise ValueError(f"mixer {cfg.mixer!r}: mlp_t or attention")
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
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.L_layers))
        self.lm_head = nn.Linear(cfg.hidden, cfg.vocab_size, bias=False)
        self.q_head = nn.Linear(cfg.hidden, 2, bias=True)
        nn.init.zeros_(self.q_head.weight)
        nn.init.constant_(self.q_head.bias, -5.0)
        # the fixed initial states a (re)started sample begins from
        self.register_buffer("y_init", nn.init.trunc_normal_(torch.empty(cfg.hidden), std=1.0))
        self.register_buffer("z_init", nn.init.trunc_normal_(torch.empty(cfg.hidden), std=1.0))

    def input_embedding(self, inputs: torch.Tensor, puzzle_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(inputs)
        if self.puzzle_emb is not None:
            p = self.puzzle_emb(puzzle_ids)
            p = F.pad(p, (0, self.cfg.puzzle_emb_len * self.cfg.hidden - p.shape[-1]))
            x = torch.cat([p.view(-1, self.cfg.puzzle_emb_len, self.cfg.hidden).to(x.dtype), x], dim=1)
        return x * math.sqrt(self.cfg.hidden)

    def net(self, h: torch.Tensor, injection: torch.Tensor) -> torch.Tensor:
        h = h + injection
        for block in self.blocks:
            h = block(h)
        return h

    def recursion(self, y: torch.Tensor, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(self.cfg.L_cycles):
            z = self.net(z, y + x)
        return self.net(y, z), z

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32):
        shape = (batch, self.cfg.positions, self.cfg.hidden)
        return (self.y_init.to(dtype).expand(shape).to(device).clone(),
                self.z_init.to(dtype).expand(shape).to(device).clone())

    def forward(self, y: torch.Tensor, z: torch.Tensor, inputs: torch.Tensor, puzzle_ids: torch.Tensor):
        """One supervision step from (y, z): ``(y, z)`` detached, logits ``(B, seq, vocab)``, q_halt ``(B,)``."""
        x = self.input_embedding(inputs, puzzle_ids)
        with torch.no_grad():
            for _ in range(self.cfg.H_cycles - 1):
                y, z = self.recursion(y, z, x)
        y, z = self.recursion(y, z, x)
        logits = self.lm_head(y)[:, self.cfg.puzzle_emb_len:]
        q_halt = self.q_head(y[:, 0])[..., 0]
        return y.detach(), z.detach(), logits, q_halt


def flops_per_example(cfg: TRMConfig) -> dict[str, float]:
    """Multiply-adds x 2 of one supervision step for one example, forward and training.

    Counted from the matmuls (2 x in x out per position for every Linear;
    attention adds 2 x 2 x positions^2 x hidden for the scores and the mix):
    ``net`` runs (n + 1) x T times; training back-propagates through the last
    recursion only (x 2 its forward for the gradients of inputs and weights).
    Norms, activations and the loss are left out (well under 1%).
    """
    s, h = cfg.positions, cfg.hidden
    inner = swiglu_width(h, cfg.expansion)
    channel = 2 * s * (h * 2 * inner + inner * h)
    if cfg.mixer == "mlp_t":
        t_inner = swiglu_width(s, cfg.expansion)
        mix = 2 * h * (s * 2 * t_inner + t_inner * s)
    else:
        mix = 2 * s * (h * 3 * h + h * h) + 2 * 2 * s * s * h
    net = cfg.L_layers * (channel + mix)
    per_recursion = (cfg.L_cycles + 1) * net
    heads = 2 * cfg.seq_len * h * cfg.vocab_size + 2 * h * 2
    forward = cfg.H_cycles * per_recursion + heads
    return {"recursion": per_recursion, "heads": heads, "forward": forward,
            "train": forward + 2 * (per_recursion + heads)}
