"""Projected gradient descent (PGD) in an L-infinity box clipped to [0, 1].

FGSM is PGD with one step of size eps and no random start. For training the
attack maximises cross-entropy; for falsification it minimises the margin
``logit_true - max_{j != true} logit_j``, and a sample is falsified when a
point in the box has a negative margin (re-checked on a fresh forward pass).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def box(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The eps box around ``x`` clipped to the valid pixel range [0, 1]."""
    return (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``logit_y - max_{j != y} logit_j`` per sample (negative: misclassified)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return true - others.max(1).values


def _objective(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-sample quantity the attacker maximises."""
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    return -margin(logits, y)


def _per_sample_noise(like: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    """Uniform [-1, 1] noise, one generator per sample: a sample's start does not
    depend on which batch (or rank) it lands in."""
    rows = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        rows.append(torch.rand(like.shape[1:], generator=g) * 2 - 1)
    return torch.stack(rows).to(like.device, like.dtype)


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-sample mask shaped to broadcast over ``like``.

    (Updates select with it rather than index with a boolean mask: a mask's
    data-dependent shape would make an XLA device compile a graph per step.)"""
    return mask.view(-1, *([1] * (like.dim() - 1))).to(like.dtype)


@dataclass
class PGDResult:
    x_best: torch.Tensor      # the point of lowest margin found, inside the box
    best_margin: torch.Tensor # its margin


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
        step_size: float, restarts: int = 1, random_start: bool = True, loss: str = "margin",
        seeds: list[int] | None = None, stop_on_success: bool = True) -> PGDResult:
    """Attack ``x`` (labels ``y``) inside the clipped eps box.

    ``step_size`` is absolute. ``seeds`` (one per sample) make random starts
    reproducible per sample; without them the global generator is used.
    With ``stop_on_success`` a sample stops moving once its margin is
    negative, so its result does not depend on the rest of the batch.
    """
    lo, hi = box(x, eps)
    best_x = x.detach().clone()
    with torch.no_grad():
        best_m = margin(model(x), y)
    for r in range(restarts):
        if random_start:
            noise = (_per_sample_noise(x, [s * 7919 + r for s in seeds]) if seeds is not None
                     else torch.rand_like(x) * 2 - 1)
            adv = torch.max(torch.min(x + eps * noise, hi), lo)
        else:
            adv = x.clone()
        active = best_m >= 0 if stop_on_success else torch.ones_like(best_m, dtype=torch.bool)
        for _ in range(steps):
            if not active.any():
                break
            adv = adv.detach().requires_grad_(True)
            logits = model(adv)
            grad, = torch.autograd.grad(_objective(logits, y, loss).sum(), adv)
            with torch.no_grad():
                m = margin(logits, y)
                better = (m < best_m) & active
                best_m = torch.where(better, m, best_m)
                best_x = torch.where(_rows(better, x) > 0, adv.detach(), best_x)
                if stop_on_success:
                    active &= best_m >= 0
                step = step_size * grad.sign() * _rows(active, x)
                adv = torch.max(torch.min(adv + step, hi), lo)
        with torch.no_grad():  # the last step's point
            m = margin(model(adv), y)
            better = (m < best_m) & active
            best_m = torch.where(better, m, best_m)
            best_x = torch.where(_rows(better, x) > 0, adv, best_x)
    return PGDResult(best_x.detach(), best_m.detach())
