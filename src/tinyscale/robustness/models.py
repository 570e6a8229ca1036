"""TRM-MLP: the tiny recursive model of the robustness study (seed 000).

Linear and ReLU only, so auto_LiRPA can bound it end to end, recursion
unrolled::

    for _ in range(outer):
        for _ in range(inner):
            z = fz_mlp(fz_in(cat[x, y, z]))
        y = fy_mlp(fy_in(cat[y, z]))
    logits = head(y)

The learned initial states ``y_init`` and ``z_init`` are written as a
``Linear(1, dim)`` applied to a constant-one column derived from the input.
That is the same function as a broadcast parameter, but auto_LiRPA 0.3 can
bound it (it cannot bound ``param.expand(batch, -1)``, which traces into
shape arithmetic, nor a parameter broadcast by multiplication).

Initialisation (``TRMConfig.init``; the learned initial states start at zero
either way): ``"default"`` is PyTorch's own ``nn.Linear`` init (weights and
biases uniform in +-1/sqrt(fan_in)); ``"trunc_normal_0.02"`` is the seed's
(truncated normal weights, std 0.02, zero biases), kept to reproduce old
results. With std 0.02 the signal through this unnormalised recursion
(>= 7 Linear layers from input to logits, a 10-wide y) starts many orders of
magnitude too small, and whether and when training escapes that depends on
the seed: clean accuracy on digits spread 0.53-0.93 over seeds (issue 10).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


INITS = ("default", "trunc_normal_0.02")


@dataclass(frozen=True)
class TRMConfig:
    input_dim: int = 784
    num_classes: int = 10
    hidden: int = 128          # size of the latent z
    mlp_hidden: int = 256      # width of the two inner MLPs
    outer_cycles: int = 2
    inner_cycles: int = 2
    init: str = "default"      # "default" (PyTorch's nn.Linear init) or "trunc_normal_0.02" (the seed's)

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"TRMConfig.init: {self.init!r} is not one of {', '.join(INITS)}")

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))


class TRMMLP(nn.Module):
    """Takes flattened inputs in [0, 1] of shape (batch, input_dim)."""

    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.cfg = cfg
        c, h = cfg.num_classes, cfg.hidden
        self.y_init = nn.Linear(1, c)
        self.z_init = nn.Linear(1, h)
        self.fz_in = nn.Linear(cfg.input_dim + c + h, h)
        self.fz_mlp = _mlp(h, cfg.mlp_hidden)
        self.fy_in = nn.Linear(c + h, c)
        self.fy_mlp = _mlp(c, cfg.mlp_hidden)
        self.head = nn.Linear(c, c)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if self.cfg.init == "trunc_normal_0.02":
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)
                else:
                    m.reset_parameters()
        # learned initial states start at zero
        for m in (self.y_init, self.z_init):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        one = x[:, :1] * 0 + 1
        y, z = self.y_init(one), self.z_init(one)
        for _ in range(self.cfg.outer_cycles):
            for _ in range(self.cfg.inner_cycles):
                z = self.fz_mlp(self.fz_in(torch.cat([x, y, z], dim=1)))
            y = self.fy_mlp(self.fy_in(torch.cat([y, z], dim=1)))
        return self.head(y)
