"""A plain deep transformer on TRM's loop: the no-recursion baseline.

``L_layers`` post-norm blocks (:mod:`tinyscale.reasoning.layers`), all with
gradient, from the input embedding to the answer and Q heads. It has no
state: its carry is two empty ``(B, 0, hidden)`` tensors, passed through
unchanged, so the supervision loop's carry handling works as for the
recurrent models at no cost. Meant for ``halt_max_steps: 1`` (with more, a
step would only repeat the same answer).

At hidden 512 with eight attention blocks (HRM's 4 + 4) and one
puzzle-embedding position it has exactly HRM's 27.27M parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .layers import Block, SequenceModel, block_flops, head_flops

if TYPE_CHECKING:
    from .models import ModelConfig


class Transformer(SequenceModel):
    """``forward(a, b, inputs, puzzle_ids)``: one pass through every block; (a, b) pass through."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.L_layers))
        self.add_heads()

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32):
        empty = torch.zeros(batch, 0, self.cfg.hidden, device=device, dtype=dtype)
        return empty, empty.clone()

    def forward(self, a: torch.Tensor, b: torch.Tensor, inputs: torch.Tensor, puzzle_ids: torch.Tensor):
        """``(a, b)`` detached and unchanged, logits ``(B, seq, vocab)``, q ``(B, 2)``."""
        h = self.input_embedding(inputs, puzzle_ids)
        for block in self.blocks:
            h = block(h)
        logits, q = self.readout(h)
        return a.detach(), b.detach(), logits, q


def flops(cfg: ModelConfig) -> dict[str, float]:
    """The blocks and heads once forward; training back-propagates through all of them."""
    blocks, heads = cfg.L_layers * block_flops(cfg), head_flops(cfg)
    forward = blocks + heads
    return {"blocks": blocks, "heads": heads, "forward": forward, "train": 3 * forward}
