"""Training a reasoning model (TRM, HRM, transformer) on a Sudoku dataset folder, on the
core's loop (:func:`tinyscale.trainer.fit`).

Batches follow the original sampler: an *epoch* visits every group (an
original puzzle with its augmentations) once, in a seeded random order, and
takes one random example of each. Epochs are laid end to end and cut into
global batches; rank ``r`` of ``W`` takes rows ``[r x B/W, (r+1) x B/W)`` of
each. Epoch ``e``'s order comes from a generator seeded with (seed, e), so the
batches of any step are known without replaying the ones before it (resume).

``epochs`` and ``eval_interval`` count such epochs, as the paper's recipe
does (50,000 epochs of 1,000 groups at batch 768 are 65,104 optimizer steps).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_state, save_state
from ..dist import World
from ..errors import ConfigError
from ..train import DeviceLoop, scaled_recipe
from ..trainer import Settings
from . import supervision
from .models import MODEL_NAMES, ModelConfig, build_model

MODEL_FORMAT = "tinyscale-trm"


@dataclass(frozen=True)
class Split:
    """A split as tensors on the CPU, with each example's puzzle identifier and group."""
    inputs: torch.Tensor
    labels: torch.Tensor
    puzzle_identifiers: torch.Tensor      # per example
    group_starts: np.ndarray              # example index where each group begins (+ the end)

    @classmethod
    def from_arrays(cls, split: dict[str, Any]) -> "Split":
        pidx, gidx = np.asarray(split["puzzle_indices"]), np.asarray(split["group_indices"])
        examples = len(split["inputs"])
        puzzle_of = np.searchsorted(pidx, np.arange(examples), side="right") - 1
        ids = np.asarray(split["puzzle_identifiers"])[puzzle_of]
        return cls(torch.from_numpy(np.asarray(split["inputs"], dtype=np.int64)),
                   torch.from_numpy(np.asarray(split["labels"], dtype=np.int64)),
                   torch.from_numpy(ids.astype(np.int64)), pidx[gidx])

    @property
    def groups(self) -> int:
        return len(self.group_starts) - 1

    def rows(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"inputs": self.inputs[idx], "labels": self.labels[idx],
                "puzzle_identifiers": self.puzzle_identifiers[idx]}


def epoch_order(split: Split, seed: int, epoch: int) -> np.ndarray:
    """The examples of one epoch: groups in a random order, one random example of each."""
    rng = np.random.default_rng([seed, epoch])
    groups = rng.permutation(split.groups)
    lo, hi = split.group_starts[groups], split.group_starts[groups + 1]
    return lo + (rng.random(len(groups)) * (hi - lo)).astype(np.int64)


def stream(split: Split, seed: int, start: int, size: int) -> np.ndarray:
    """Examples ``[start, start + size)`` of the endless sequence of epochs."""
    n = split.groups
    out, pos = [], start
    while pos < start + size:
        epoch, offset = divmod(pos, n)
        take = min(n - offset, start + size - pos)
        out.append(epoch_order(split, seed, epoch)[offset:offset + take])
        pos += take
    return np.concatenate(out)


def steps_for(epochs: float, groups: int, batch: int) -> int:
    return max(1, math.ceil(epochs * groups / batch))


def loop_settings(training: dict, groups: int, world_size: int = 1, scaling: str = "off"
                  ) -> tuple[Settings, int]:
    """The core loop's settings for a ``reasoning.training`` block, and the global batch
    (``scaling: sqrt``: seed 002's rule, batch x world size and lr x sqrt(world size))."""
    t = scaled_recipe(training, world_size, scaling)
    batch, lr = t["batch_size"], t["lr"]
    if batch % (t["grad_accum"] * world_size):
        raise ConfigError(f"config key 'training.batch_size': {batch} does not split into "
                          f"{t['grad_accum']} accumulation steps x {world_size} processes")
    steps = steps_for(t["epochs"], groups, batch)
    return Settings(
        steps=steps, eval_every=min(steps, steps_for(t["eval_interval"], groups, batch)), lr=lr,
        warmup_steps=t["warmup_steps"], lr_schedule=t["lr_schedule"], lr_min=t["lr_min"],
        weight_decay=t["weight_decay"], betas=(t["beta1"], t["beta2"]), grad_clip=t["grad_clip"],
        grad_accum=t["grad_accum"], precision=t["precision"], ema=t["ema"],
        checkpoint_every_s=t["checkpoint_every_s"], xla_metrics_every=t["xla_metrics_every"]), batch


class SudokuTask:
    """The :class:`tinyscale.trainer.Task` of a reasoning model on a Sudoku dataset."""

    def __init__(self, core: nn.Module, train: Split, test: Split, batch: int, grad_accum: int, seed: int,
                 loop: DeviceLoop, eval_batch: int = 512):
        self.core, self.train, self.test, self.seed, self.loop = core, train, test, seed, loop
        self.micro = batch // grad_accum                   # global rows per micro-batch
        self.local = self.micro // loop.world_size         # this rank's rows of it
        self.grad_accum, self.eval_batch = grad_accum, eval_batch
        self.carry: supervision.Carry | None = None

    def batches(self, start_step: int) -> Iterator[dict[str, torch.Tensor]]:
        m = start_step * self.grad_accum
        lo = self.loop.rank * self.local
        while True:
            rows = stream(self.train, self.seed, m * self.micro, self.micro)[lo:lo + self.local]
            yield self.train.rows(torch.from_numpy(rows))
            m += 1

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]):
        if self.carry is None:
            self.carry = supervision.empty_carry(self.core, batch)
        loss, sums, self.carry = supervision.train_step(model, self.core, self.carry, batch)
        return loss, sums

    def train_metrics(self, sums: list[float]) -> dict[str, float]:
        return supervision.rates(sums, "train_")

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return evaluate(model, self.test, self.loop.eval_world, self.loop.eval_device, self.eval_batch)

    def state_dict(self) -> dict:
        return {"carry": self.carry.state_dict() if self.carry is not None else {}}

    def load_state_dict(self, state: dict) -> None:
        carry = state["carry"]
        self.carry = supervision.Carry.from_state(carry, self.loop.device) if carry else None


@dataclass
class Run:
    """What a training run needs, built from a dataset's splits and an experiment's blocks."""
    cfg: ModelConfig
    core: nn.Module
    task: "SudokuTask"
    settings: Settings
    batch: int                 # global
    name: str                  # the arch's display name

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.core.parameters())


def prepare(loop: DeviceLoop, splits: dict, model: dict, training: dict, seed: int, scaling: str = "off") -> Run:
    """The model (seeded), the task and the loop's settings for ``splits`` (dataset.load_split's)."""
    meta = splits["train"]["metadata"]
    train, test = Split.from_arrays(splits["train"]), Split.from_arrays(splits["test"])
    cfg = ModelConfig.from_dict({**model, "seq_len": meta["seq_len"], "vocab_size": meta["vocab_size"],
                                 "puzzle_ids": meta["num_puzzle_identifiers"]})
    settings, batch = loop_settings(training, train.groups, loop.world_size, scaling)
    torch.manual_seed(seed)
    core = build_model(cfg)
    task = SudokuTask(core, train, test, batch, settings.grad_accum, seed, loop, training["eval_batch_size"])
    return Run(cfg, core, task, settings, batch, MODEL_NAMES[cfg.arch])


def evaluate(model: nn.Module, split: Split, world: World, device: torch.device, batch: int = 512,
             prefix: str = "test_") -> dict[str, float]:
    """All Nsup steps on ``split`` (sharded over ``world``'s ranks, sums all-reduced)."""
    model.eval()
    idx = torch.tensor(world.shard(range(len(split.inputs))), dtype=torch.long)
    total = torch.zeros(len(supervision.METRICS), dtype=torch.float64)
    for i in range(0, len(idx), batch):
        rows = {k: v.to(device) for k, v in split.rows(idx[i:i + batch]).items()}
        sums, _ = supervision.evaluate_batch(model, rows)
        total += sums.double().cpu()
    return supervision.rates([world.sum(float(v)) for v in total], prefix)


def save_model(path, cfg: ModelConfig, weights: dict[str, torch.Tensor], meta: dict) -> None:
    save_state(path, MODEL_FORMAT, {"config": cfg.as_dict(), "state_dict": weights, "meta": meta})


def load_model(path) -> tuple[nn.Module, dict]:
    """A trained model of any arch (weights_only load) in eval mode, and the metadata saved with it.

    The format keeps TRM's name: a model saved before there were archs has no ``arch``
    key and loads as the TRM it is (the config's defaults)."""
    payload = load_state(Path(path), MODEL_FORMAT, "reasoning model")
    model = build_model(ModelConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["meta"]
