"""HRM, the Hierarchical Reasoning Model, on TRM's loop: the baseline TRM was derived from.

Two separate modules of post-norm blocks (:mod:`tinyscale.reasoning.layers`)
update two carried states at two speeds: the low-level ``z_L`` every cycle
(``z_L = L(z_L, z_H + x)``, ``L_layers`` blocks) and the high-level ``z_H``
once every ``L_cycles`` of them (``z_H = H(z_H, z_L)``, ``H_layers`` blocks);
each module first adds its injection to its state. A supervision step runs
``H_cycles x L_cycles`` L updates and ``H_cycles`` H updates from the carry,
all without gradient but the last L and the last H update (the one-step
gradient approximation), then reads the answer from ``z_H`` and
(q_halt, q_continue) from its position 0. HRM halts by Q-learning
(``act: q_learning`` in :mod:`tinyscale.reasoning.supervision`).

The paper's Sudoku model (hidden 512, 8 heads, expansion 4, four H and four
L blocks with attention, one puzzle-embedding position) has about 27M
parameters; ours has 27.27M (tests/test_models.py counts them).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .layers import Block, SequenceModel, block_flops, head_flops

if TYPE_CHECKING:
    from .models import ModelConfig


class Level(nn.Module):
    """One of HRM's modules: ``h + injection`` through its blocks."""

    def __init__(self, cfg: ModelConfig, layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(layers))

    def forward(self, h: torch.Tensor, injection: torch.Tensor) -> torch.Tensor:
        h = h + injection
        for block in self.blocks:
            h = block(h)
        return h


class HRM(SequenceModel):
    """Two-level recurrence: ``forward(z_H, z_L, inputs, puzzle_ids)`` is one supervision step."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.H = Level(cfg, cfg.H_layers)
        self.L = Level(cfg, cfg.L_layers)
        self.add_heads()
        self.register_buffer("H_init", nn.init.trunc_normal_(torch.empty(cfg.hidden), std=1.0))
        self.register_buffer("L_init", nn.init.trunc_normal_(torch.empty(cfg.hidden), std=1.0))

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32):
        return (self.fixed_state(self.H_init, batch, device, dtype),
                self.fixed_state(self.L_init, batch, device, dtype))

    def forward(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor, puzzle_ids: torch.Tensor):
        """One supervision step: ``(z_H, z_L)`` detached, logits ``(B, seq, vocab)``, q ``(B, 2)``."""
        x = self.input_embedding(inputs, puzzle_ids)
        cycles = self.cfg.L_cycles
        with torch.no_grad():
            for i in range(self.cfg.H_cycles * cycles - 1):
                z_L = self.L(z_L, z_H + x)
                if (i + 1) % cycles == 0:
                    z_H = self.H(z_H, z_L)
        z_L = self.L(z_L, z_H + x)
        z_H = self.H(z_H, z_L)
        logits, q = self.readout(z_H)
        return z_H.detach(), z_L.detach(), logits, q


def flops(cfg: ModelConfig) -> dict[str, float]:
    """HRM's count: ``H_cycles x L_cycles`` L updates and ``H_cycles`` H updates forward;
    training back-propagates through the last of each and the heads."""
    block = block_flops(cfg)
    L, H, heads = cfg.L_layers * block, cfg.H_layers * block, head_flops(cfg)
    forward = cfg.H_cycles * (cfg.L_cycles * L + H) + heads
    return {"L_update": L, "H_update": H, "heads": heads, "forward": forward,
            "train": forward + 2 * (L + H + heads)}
