"""The shared training loop's parts: the device side (:class:`DeviceLoop`), the
learning-rate schedule, seed 002's scaling rule, and each rank's share of an
epoch's shuffle. The loop itself is :func:`tinyscale.trainer.fit`.

What is device-specific (where the data and the model live, how a batch
reaches the device, how the optimizer steps, where evaluation runs) is a
:class:`DeviceLoop`: the default one here for the CPU, CUDA and DDP, and
``tinyscale.xla.XlaLoop`` for an XLA device (imported only there: it needs
torch_xla).
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import torch
from torch import nn
from torch.utils.data import DistributedSampler

from .dist import SINGLE, World


def lr_at_step(t: int, total: int, warmup: int, lr: float, schedule: str = "constant",
               lr_min: float = 0.0, milestones: tuple[int, ...] = (), gamma: float = 0.1) -> float:
    """The learning rate of step ``t`` of ``total``: a linear warm-up over ``warmup`` steps
    (from lr / warmup up to lr), then constant, cosine from lr to lr_min over the rest, or
    step: lr x gamma for every milestone step reached (PyTorch's MultiStepLR)."""
    if t < warmup:
        return lr * (t + 1) / warmup
    if schedule == "constant":
        return lr
    if schedule == "step":
        return lr * gamma ** sum(t >= m for m in milestones)
    progress = (t - warmup) / max(1, total - warmup)
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * progress))


def lr_at(recipe: dict, epoch: int, step: int, steps_per_epoch: int) -> float:
    """:func:`lr_at_step` for an epoch-based recipe (``warmup_epochs``, ``epochs``)."""
    return lr_at_step(epoch * steps_per_epoch + step, recipe["epochs"] * steps_per_epoch,
                      round(recipe.get("warmup_epochs", 0) * steps_per_epoch), recipe["lr"],
                      recipe["lr_schedule"], recipe["lr_min"])


class DeviceLoop:
    """The device side of the training loop: the CPU or a GPU, alone or under DDP.

    Batches move to ``device``; the optimizer steps as usual (DDP all-reduced the
    gradients in backward); evaluation runs on ``device`` too, sharded over the ranks.
    """

    def __init__(self, device: torch.device, world: World = SINGLE):
        self.device = device
        self.world = world
        self.eval_device = device    # where evaluation runs, and its data lie
        self.eval_world = world      # the ranks evaluation is sharded over

    @property
    def rank(self) -> int:
        return self.world.rank

    @property
    def world_size(self) -> int:
        return self.world.world_size

    def prepare(self, net: nn.Module) -> nn.Module:
        """Move ``net`` to the device; return the module to train (DDP-wrapped under several ranks)."""
        net.to(self.device)
        return net if self.world_size == 1 else nn.parallel.DistributedDataParallel(net)

    def feed(self, batches: Iterable) -> Iterator:
        """Host batches (tensors, or dicts / tuples of them) on the device, one by one."""
        for batch in batches:
            yield _to(batch, self.device)

    def optimizer_step(self, opt: torch.optim.Optimizer) -> None:
        opt.step()

    def rng_state(self) -> dict[str, torch.Tensor]:
        """The generators a training step draws from (restored on resume)."""
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def set_rng_state(self, state: dict[str, torch.Tensor]) -> None:
        torch.set_rng_state(state["cpu"])
        if "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def log_device_metrics(self, step: int) -> None:
        """Log the device's own counters (XLA: compilations and executions)."""

    def step_done(self) -> None:
        """End of a training step (an XLA device runs the step's graph here)."""

    def sum(self, value: float) -> float:
        return self.world.sum(value)

    def extra_metrics(self) -> dict:
        return {}


def _to(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    return type(batch)(_to(v, device) for v in batch)


def epoch_index(n: int, generator: torch.Generator, world: DeviceLoop | World, local_batch: int,
                steps: int) -> list[torch.Tensor]:
    """This rank's index batches of one epoch over ``n`` examples: every rank draws the
    same seeded permutation and takes ``perm[rank::world]`` (padded to equal lengths), so
    its consecutive local batches make up the global batches."""
    perm = torch.randperm(n, generator=generator)
    share = perm[list(DistributedSampler(perm, world.world_size, world.rank, shuffle=False))]
    return [share[step * local_batch:(step + 1) * local_batch] for step in range(steps)]


def scaled_recipe(recipe: dict, world_size: int, scaling: str) -> dict:
    """Seed 002's rule under ``sqrt``: global batch linear in world size, lr x sqrt(world size).
    ``off``: the recipe's global batch and lr, split over the ranks."""
    if scaling == "off" or world_size == 1:
        return recipe
    return {**recipe, "batch_size": recipe["batch_size"] * world_size,
            "lr": recipe["lr"] * math.sqrt(world_size)}
