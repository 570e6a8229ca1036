"""Deep supervision with halting: TRM's training step, its loss and metrics, and evaluation.

Training keeps a *carry* of ``B`` samples in flight. Every step, the samples
that halted at the previous step are replaced by the rows of the next batch
at the same positions (starting again from the model's fixed initial
states); the others go on from their detached (y, z). The step's loss is

    sum over samples of mean_token stable-max CE  +  0.5 x BCE(q_halt, exact)

divided by the batch (the caller scales for accumulation and DDP averages
over ranks, so the gradient is that of the global mean). A sample halts at
``halt_max_steps`` or when ``q_halt > 0``; with probability
``halt_exploration`` a minimum step count drawn from U[2, Nsup] blocks that
first. Metrics are summed over the samples that halted at this step.

Evaluation runs every sample for all Nsup steps and scores the last.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .dataset import BLANK, PAD
from .trm import TRM

# the summed metric vector's entries; rates divide by "count" (samples) or "blank_cells"
METRICS = ("count", "token_acc", "exact_acc", "q_halt_acc", "steps", "lm_loss", "blank_acc", "blank_cells")


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log of stable-max: s(x) = x + 1 for x >= 0, 1 / (1 - x) below, normalised along ``dim``."""
    s = torch.where(x >= 0, x + 1, 1 / (1 - torch.clamp(x, max=0)))
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore: int = PAD) -> torch.Tensor:
    """Per-token stable-max cross-entropy (0 where ``labels == ignore``), in float32."""
    logp = log_stablemax(logits.float())
    mask = labels != ignore
    picked = torch.gather(logp, -1, torch.where(mask, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return -torch.where(mask, picked, 0)


@dataclass
class Carry:
    y: torch.Tensor
    z: torch.Tensor
    steps: torch.Tensor        # supervision steps taken by each sample
    halted: torch.Tensor       # bool: replaced by the next batch's row
    inputs: torch.Tensor
    labels: torch.Tensor
    puzzle_ids: torch.Tensor

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name).detach().cpu() for f in fields(self)}

    @classmethod
    def from_state(cls, state: dict, device: torch.device) -> "Carry":
        return cls(**{f.name: state[f.name].to(device) for f in fields(cls)})


def empty_carry(core: TRM, batch: dict[str, torch.Tensor]) -> Carry:
    """A carry whose every sample has halted: the first step takes the whole batch."""
    y, z = core.initial_state(len(batch["inputs"]), batch["inputs"].device)
    n = len(batch["inputs"])
    return Carry(y, z, torch.zeros(n, dtype=torch.int32, device=y.device),
                 torch.ones(n, dtype=torch.bool, device=y.device),
                 batch["inputs"], batch["labels"], batch["puzzle_identifiers"])


def metric_sums(logits, labels, inputs, q_halt, steps, counted) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-sample lm loss, per-sample exact, the summed metric vector over ``counted`` samples)."""
    mask = labels != PAD
    tokens = mask.sum(-1).clamp_min(1)
    lm = (stablemax_cross_entropy(logits, labels) / tokens.unsqueeze(-1)).sum(-1)
    correct = mask & (logits.argmax(-1) == labels)
    exact = correct.sum(-1) == mask.sum(-1)
    blank = inputs == BLANK
    c = counted.float()
    sums = torch.stack([
        c.sum(),
        (c * correct.sum(-1) / tokens).sum(),
        (c * exact).sum(),
        (c * ((q_halt >= 0) == exact)).sum(),
        (c * steps).sum(),
        (c * lm.detach()).sum(),
        (c.unsqueeze(-1) * (correct & blank)).sum(),
        (c.unsqueeze(-1) * blank).sum(),
    ])
    return lm, exact, sums


def train_step(model: nn.Module, core: TRM, carry: Carry, batch: dict[str, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor, Carry]:
    """One supervision step of the carry (refilled from ``batch``): (loss, metric sums, new carry).

    ``model`` is what runs the forward (``core`` itself, or its DDP wrapper).
    """
    cfg = core.cfg
    h = carry.halted
    y0, z0 = core.initial_state(len(h), h.device, carry.y.dtype)
    y = torch.where(h[:, None, None], y0, carry.y)
    z = torch.where(h[:, None, None], z0, carry.z)
    inputs = torch.where(h[:, None], batch["inputs"], carry.inputs)
    labels = torch.where(h[:, None], batch["labels"], carry.labels)
    pids = torch.where(h, batch["puzzle_identifiers"], carry.puzzle_ids)
    steps = torch.where(h, 0, carry.steps) + 1

    y, z, logits, q_halt = model(y, z, inputs, pids)

    halted = steps >= cfg.halt_max_steps
    if cfg.halt_max_steps > 1:
        halted = halted | (q_halt.detach() > 0)
        explore = torch.rand(len(h), device=h.device) < cfg.halt_exploration
        min_steps = explore * torch.randint(2, cfg.halt_max_steps + 1, (len(h),), device=h.device)
        halted = halted & (steps >= min_steps)

    lm, exact, sums = metric_sums(logits, labels, inputs, q_halt, steps, halted)
    bce = F.binary_cross_entropy_with_logits(q_halt.float(), exact.float(), reduction="none")
    loss = (lm + 0.5 * bce).sum() / len(h)
    return loss, sums, Carry(y, z, steps.to(torch.int32), halted, inputs, labels, pids)


@torch.no_grad()
def evaluate_batch(core: TRM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """All Nsup steps for every sample of ``batch``: (summed metrics of the last step, predictions)."""
    inputs, labels, pids = batch["inputs"], batch["labels"], batch["puzzle_identifiers"]
    y, z = core.initial_state(len(inputs), inputs.device)
    for _ in range(core.cfg.halt_max_steps):
        y, z, logits, q_halt = core(y, z, inputs, pids)
    steps = torch.full((len(inputs),), core.cfg.halt_max_steps, device=inputs.device)
    _, _, sums = metric_sums(logits, labels, inputs, q_halt, steps, torch.ones_like(steps, dtype=torch.bool))
    return sums, logits.argmax(-1)


def rates(sums: torch.Tensor | list[float], prefix: str = "") -> dict[str, float]:
    """The metrics of a summed vector: per-sample means, and blank-cell accuracy per blank cell."""
    s = dict(zip(METRICS, [float(v) for v in sums]))
    n = max(s["count"], 1.0)
    out = {k: s[k] / n for k in ("token_acc", "exact_acc", "q_halt_acc", "steps", "lm_loss")}
    out["blank_acc"] = s["blank_acc"] / max(s["blank_cells"], 1.0)
    return {prefix + k: v for k, v in out.items()}


def copy_baseline(inputs, labels) -> dict[str, float]:
    """Copy the givens, leave blanks blank: exact accuracy 0, token accuracy = the givens' share."""
    inputs, labels = torch.as_tensor(inputs), torch.as_tensor(labels)
    mask = labels != PAD
    correct = mask & (inputs == labels)
    exact = (correct.sum(-1) == mask.sum(-1)).float()
    return {"token_acc": float((correct.sum(-1) / mask.sum(-1).clamp_min(1)).mean()),
            "exact_acc": float(exact.mean()), "blank_acc": 0.0}
