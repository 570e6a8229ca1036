"""Deep supervision with halting: the training step, its loss and metrics, and evaluation.

Training keeps a *carry* of ``B`` samples in flight. Every step, the samples
that halted at the previous step are replaced by the rows of the next batch
at the same positions (starting again from the model's fixed initial
states); the others go on from their detached carried states. The model
(any arch of :mod:`tinyscale.reasoning.models`) gives logits and
q = (q_halt, q_continue); its ``act`` decides halting and the Q loss:

- ``halt`` (TRM): a sample halts at ``halt_max_steps`` (Nsup) or when
  q_halt > 0; loss = mean_token stable-max CE + 0.5 x BCE(q_halt, exact);
- ``q_learning`` (HRM): halts at Nsup or when q_halt > q_continue; loss =
  CE + 0.5 x (BCE(q_halt, exact) + BCE(q_continue, target)), the target being
  the next step's best Q (:func:`q_continue_target`) from one extra forward
  pass without gradient;
- ``fixed``: every sample runs exactly Nsup steps; loss = CE alone (Nsup 1:
  no deep supervision).

With halting and Nsup > 1, with probability ``halt_exploration`` a minimum
step count drawn from U[2, Nsup] blocks halting first. The per-sample losses
are summed and divided by the batch (the caller scales for accumulation and
DDP averages over ranks, so the gradient is that of the global mean).
Metrics are summed over the samples that halted at this step.

Evaluation runs every sample for all Nsup steps and scores the last; its
"steps" is the step where the halting rule would have stopped.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .dataset import BLANK, PAD

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


def empty_carry(core: nn.Module, batch: dict[str, torch.Tensor]) -> Carry:
    """A carry whose every sample has halted: the first step takes the whole batch."""
    y, z = core.initial_state(len(batch["inputs"]), batch["inputs"].device)
    n = len(batch["inputs"])
    return Carry(y, z, torch.zeros(n, dtype=torch.int32, device=y.device),
                 torch.ones(n, dtype=torch.bool, device=y.device),
                 batch["inputs"], batch["labels"], batch["puzzle_identifiers"])


def fires(q: torch.Tensor, act: str) -> torch.Tensor:
    """Where the halting rule of ``act`` stops a sample (never under ``fixed``)."""
    if act == "halt":
        return q[:, 0] > 0
    if act == "q_learning":
        return q[:, 0] > q[:, 1]
    return torch.zeros(len(q), dtype=torch.bool, device=q.device)


def q_continue_target(next_q: torch.Tensor, is_last: torch.Tensor) -> torch.Tensor:
    """HRM's Q-learning target of q_continue: the next step's value as a probability, that of
    its better action, or of halting where the next step is the last (Nsup reached)."""
    return torch.sigmoid(torch.where(is_last, next_q[:, 0], next_q.max(-1).values))


def metric_sums(logits, labels, inputs, q, act, steps, counted) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-sample lm loss, per-sample exact, the summed metric vector over ``counted`` samples)."""
    mask = labels != PAD
    tokens = mask.sum(-1).clamp_min(1)
    lm = (stablemax_cross_entropy(logits, labels) / tokens.unsqueeze(-1)).sum(-1)
    correct = mask & (logits.argmax(-1) == labels)
    exact = correct.sum(-1) == mask.sum(-1)
    blank = inputs == BLANK
    # does the Q head's halt signal say "exact"? (under ``fixed`` the head is untrained: the
    # column stays for a uniform metrics file)
    says_exact = q[:, 0] > q[:, 1] if act == "q_learning" else q[:, 0] >= 0
    c = counted.float()
    sums = torch.stack([
        c.sum(),
        (c * correct.sum(-1) / tokens).sum(),
        (c * exact).sum(),
        (c * (says_exact == exact)).sum(),
        (c * steps).sum(),
        (c * lm.detach()).sum(),
        (c.unsqueeze(-1) * (correct & blank)).sum(),
        (c.unsqueeze(-1) * blank).sum(),
    ])
    return lm, exact, sums


def train_step(model: nn.Module, core: nn.Module, carry: Carry, batch: dict[str, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor, Carry]:
    """One supervision step of the carry (refilled from ``batch``): (loss, metric sums, new carry).

    ``model`` is what runs the forward (``core`` itself, or its DDP wrapper); the
    Q-learning target's extra forward runs on ``core`` (no gradient, nothing to reduce).
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

    y, z, logits, q = model(y, z, inputs, pids)
    q = q.float()

    last = steps >= cfg.halt_max_steps
    halted = last
    if cfg.act != "fixed" and cfg.halt_max_steps > 1:
        halted = halted | fires(q.detach(), cfg.act)
        explore = torch.rand(len(h), device=h.device) < cfg.halt_exploration
        min_steps = explore * torch.randint(2, cfg.halt_max_steps + 1, (len(h),), device=h.device)
        halted = halted & (steps >= min_steps)

    lm, exact, sums = metric_sums(logits, labels, inputs, q, cfg.act, steps, halted)
    if cfg.act == "fixed":
        # 0 x q keeps the Q head in the graph: DDP waits for a gradient of every parameter
        per_sample = lm + 0 * q.sum(-1)
    else:
        q_loss = F.binary_cross_entropy_with_logits(q[:, 0], exact.float(), reduction="none")
        if cfg.act == "q_learning":
            with torch.no_grad():
                _, _, _, next_q = core(y, z, inputs, pids)
            target = q_continue_target(next_q.float(), last)
            q_loss = q_loss + F.binary_cross_entropy_with_logits(q[:, 1], target, reduction="none")
        per_sample = lm + 0.5 * q_loss
    loss = per_sample.sum() / len(h)
    return loss, sums, Carry(y, z, steps.to(torch.int32), halted, inputs, labels, pids)


@torch.no_grad()
def evaluate_batch(core: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """All Nsup steps for every sample of ``batch``: (summed metrics of the last step, predictions).

    The answer scored is the last step's; "steps" is where the halting rule would have
    stopped each sample (the first step it fires, Nsup if never or under ``fixed``).
    """
    inputs, labels, pids = batch["inputs"], batch["labels"], batch["puzzle_identifiers"]
    cfg = core.cfg
    y, z = core.initial_state(len(inputs), inputs.device)
    stop = torch.full((len(inputs),), cfg.halt_max_steps, device=inputs.device)
    for step in range(1, cfg.halt_max_steps + 1):
        y, z, logits, q = core(y, z, inputs, pids)
        stop = torch.where(fires(q, cfg.act) & (stop > step), step, stop)
    _, _, sums = metric_sums(logits, labels, inputs, q.float(), cfg.act, stop,
                             torch.ones_like(stop, dtype=torch.bool))
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
