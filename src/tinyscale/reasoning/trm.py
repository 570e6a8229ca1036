"""TRM, the Tiny Recursive Model (seeds 001/002), with deep supervision and halting.

One small network (``L_layers`` post-norm blocks) is applied recursively to
two carried states: the answer ``y`` and the latent ``z``. A *recursion* is
``L_cycles`` (n) updates ``z = net(z + y + x)`` followed by ``y = net(y + z)``;
a *supervision step* runs ``H_cycles - 1`` (T - 1) recursions without
gradient and one with (the one-step-gradient form), then reads the answer
from ``y`` and a halting logit from position 0. Between supervision steps
(up to ``halt_max_steps``, Nsup) the carried (y, z) are detached.

The blocks (attention with RoPE or ``mlp_t``, post-norm SwiGLU) and the
heads are the shared ones of :mod:`tinyscale.reasoning.layers`; the Q head
gives (q_halt, q_continue) from position 0 of ``y``.

Parameter counts (the paper's Sudoku model: hidden 512, expansion 4, two
layers, 16 puzzle-embedding positions): 5.0M for ``mlp_t``, 6.8M with
attention, as in the paper (tests/test_trm.py counts them).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .layers import Block, SequenceModel, block_flops, head_flops

if TYPE_CHECKING:
    from .models import ModelConfig


class TRM(SequenceModel):
    """The recursive core: ``forward(y, z, inputs, puzzle_ids)`` is one supervision step."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.L_layers))
        self.add_heads()
        # the fixed initial states a (re)started sample begins from
        self.register_buffer("y_init", nn.init.trunc_normal_(torch.empty(cfg.hidden), std=1.0))
        self.register_buffer("z_init", nn.init.trunc_normal_(torch.empty(cfg.hidden), std=1.0))

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
        return (self.fixed_state(self.y_init, batch, device, dtype),
                self.fixed_state(self.z_init, batch, device, dtype))

    def forward(self, y: torch.Tensor, z: torch.Tensor, inputs: torch.Tensor, puzzle_ids: torch.Tensor):
        """One supervision step from (y, z): ``(y, z)`` detached, logits ``(B, seq, vocab)``, q ``(B, 2)``."""
        x = self.input_embedding(inputs, puzzle_ids)
        with torch.no_grad():
            for _ in range(self.cfg.H_cycles - 1):
                y, z = self.recursion(y, z, x)
        y, z = self.recursion(y, z, x)
        logits, q = self.readout(y)
        return y.detach(), z.detach(), logits, q


def flops(cfg: ModelConfig) -> dict[str, float]:
    """TRM's count (see :func:`tinyscale.reasoning.models.flops_per_example`): ``net`` runs
    (n + 1) x T times; training back-propagates through the last recursion only."""
    per_recursion = (cfg.L_cycles + 1) * cfg.L_layers * block_flops(cfg)
    heads = head_flops(cfg)
    forward = cfg.H_cycles * per_recursion + heads
    return {"recursion": per_recursion, "heads": heads, "forward": forward,
            "train": forward + 2 * (per_recursion + heads)}
