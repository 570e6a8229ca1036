"""Training one grid point of the SSVAE study on the core's loop (:func:`tinyscale.trainer.fit`).

The dataset lies on the device as one tensor per split; a batch is an index tensor into it (no
DataLoader, no workers: the seed's 87 minutes a run were mostly its per-item DataLoader). An
epoch is one pass over the unlabelled images in batches of ``batch_size`` with the labelled set
interleaved, evenly spread, in ceil(n / batch_size) supervised batches: every epoch sees every
labelled image once. Under DDP every rank takes its share of each global batch.

``label_scheme: seed_per_batch`` is the seed's scheme, kept to compare with old results: every
batch of the whole training set is supervised with probability n_labels / N, its true labels
corrupted afresh at the batch. Then the images whose labels are seen change from epoch to epoch,
and with 100 MNIST labels (235 batches of 256) no batch of an epoch is supervised 68% of the
time: "n_labels" is not n labelled images.

Every draw comes from generators seeded with (seed, rank, ...): the epoch's shuffle from its
number, the model's noise from a generator the task carries (saved with the resume state).
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..trainer import Settings
from .data import Labelled, Pixels
from .model import SSVAE, Noise, objective

SCHEMES = ("balanced", "seed_per_batch")


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def schedule(n_unsupervised: int, n_supervised: int) -> list[bool]:
    """Which batches of an epoch are supervised: ``n_supervised`` spread evenly among the others."""
    total = n_unsupervised + n_supervised
    supervised = {int((i + 0.5) * total / n_supervised) for i in range(n_supervised)} if n_supervised else set()
    return [i in supervised for i in range(total)]


class PointTraining:
    """One grid point's batches, loss and evaluation (the core loop's Task)."""

    def __init__(self, data: Pixels, labelled: Labelled, training: dict, model: dict, alpha: float,
                 corruption: float, seed: int, rank: int = 0, world_size: int = 1):
        t = training
        self.data, self.alpha, self.corruption = data, float(alpha), float(corruption)
        self.k, self.style_dim = model["k"], model["style_dim"]
        self.batch, self.scheme = t["batch_size"], t["label_scheme"]
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.device = data.train_x.device
        n = len(data.train_y)
        self.n_labels = len(labelled.index)
        if self.scheme == "balanced":
            is_labelled = np.zeros(n, bool)
            is_labelled[labelled.index] = True
            self.unlabelled = torch.as_tensor(np.flatnonzero(~is_labelled), device=self.device)
            self.labelled = torch.as_tensor(labelled.index, device=self.device)
            self.labels = torch.as_tensor(labelled.labels, device=self.device)
            self.plan = schedule(math.ceil(len(self.unlabelled) / self.batch), math.ceil(self.n_labels / self.batch))
        else:
            self.unlabelled = torch.arange(n, device=self.device)
            self.plan = [False] * math.ceil(n / self.batch)
        self.steps_per_epoch = len(self.plan)
        self.unsupervised_before = np.cumsum([0] + [not s for s in self.plan])   # per batch of an epoch
        self._epoch = (-1, None, None)
        self.noise = torch.Generator(self.device).manual_seed(_seed(seed, rank, 1))

    def _share(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch."""
        return index[self.rank::self.world_size]

    def batches(self, start_step: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(image indices, their labels — empty for an unlabelled batch), from ``start_step`` on."""
        step = start_step
        while True:
            epoch, b = divmod(step, self.steps_per_epoch)
            order, sup_order = self._orders(epoch)
            if self.scheme == "balanced":
                u = int(self.unsupervised_before[b])
                if self.plan[b]:
                    pick = self._share(sup_order[(b - u) * self.batch:(b - u + 1) * self.batch])
                    yield self.labelled[pick], self.labels[pick]
                else:
                    yield self._share(self.unlabelled[order[u * self.batch:(u + 1) * self.batch]]), _NONE
            else:
                idx = self.unlabelled[order[b * self.batch:(b + 1) * self.batch]]
                draw = np.random.default_rng([self.seed, 3, step])
                if draw.random() < self.n_labels / len(self.unlabelled):
                    # flips drawn for the global batch, then shared: the same labels on any world size
                    y = self.data.train_y[idx].cpu().numpy()
                    flip = draw.random(len(y)) < self.corruption               # redrawn every batch, as the seed did
                    y[flip] = (y[flip] + draw.integers(1, self.data.n_classes, flip.sum())) % self.data.n_classes
                    yield self._share(idx), self._share(torch.as_tensor(y, device=self.device))
                else:
                    yield self._share(idx), _NONE
            step += 1

    def _orders(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The epoch's shuffles of the unlabelled and the labelled images (drawn once an epoch)."""
        if self._epoch[0] != epoch:
            gen = torch.Generator().manual_seed(_seed(self.seed, 2, epoch))
            order = torch.randperm(len(self.unlabelled), generator=gen).to(self.device)
            sup = torch.randperm(self.n_labels, generator=gen).to(self.device) if self.scheme == "balanced" else None
            self._epoch = (epoch, order, sup)
        return self._epoch[1], self._epoch[2]

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        idx, labels = batch
        x = self.data.train_x[idx]
        supervised = labels.numel() > 0
        noise = Noise.draw(self.k, len(idx), self.data.n_classes, self.style_dim, self.noise, self.device)
        elbo, log_q = model(x, noise, labels if supervised else None)
        loss = objective(elbo, log_q, self.alpha, supervised)
        n = torch.tensor(float(len(idx)), device=x.device)
        zero = torch.zeros((), device=x.device)
        return loss, torch.stack([loss.detach() * n, elbo.detach().sum(), n,
                                  log_q.detach().sum() if supervised else zero, n if supervised else zero])

    def train_metrics(self, sums: list[float]) -> dict[str, float]:
        loss, elbo, n, log_q, n_sup = sums
        return {"train_loss": loss / max(n, 1), "train_elbo": elbo / max(n, 1),
                "train_log_q_label": log_q / n_sup if n_sup else float("nan")}

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return evaluate(model, self.data.test_x, self.data.test_y, self.k, _seed(self.seed, 4))

    def state_dict(self) -> dict:
        return {"noise": self.noise.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.noise.set_state(state["noise"])


_NONE = torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def evaluate(model: SSVAE, x: torch.Tensor, y: torch.Tensor, k: int, seed: int, batch: int = 2000
             ) -> dict[str, float]:
    """Test accuracy of the encoder's digit posterior, and the test ELBO (K samples, unlabelled,
    from a generator seeded with ``seed``: every evaluation draws the same noise)."""
    gen = torch.Generator(x.device).manual_seed(seed)
    correct, elbo = 0, 0.0
    for i in range(0, len(y), batch):
        xb = x[i:i + batch]
        correct += int((model.classify(xb).argmax(-1) == y[i:i + batch]).sum())
        noise = Noise.draw(k, len(xb), model.n_classes, model.style_dim, gen, x.device)
        elbo += float(model(xb, noise)[0].sum())
    return {"test_accuracy": correct / len(y), "test_elbo": elbo / len(y)}


def settings(training: dict, steps_per_epoch: int) -> Settings:
    """The core loop's settings: Adam (AdamW without decay), constant lr, an evaluation every
    ``eval_frequency`` epochs and always at the last."""
    t = training
    return Settings(steps=t["epochs"] * steps_per_epoch, eval_every=t["eval_frequency"] * steps_per_epoch,
                    lr=t["lr"], optimizer="adamw", weight_decay=0.0,
                    checkpoint_every_s=t["checkpoint_every_s"])
