"""Training of the robustness checkpoints: standard and PGD-adversarial.

Adversarial training minimises ``w * CE(clean) + (1 - w) * CE(PGD)`` (the
seed's 0.5/0.5 by default) with a real multi-step PGD; FGSM is ``steps: 1``.
The kept weights are either the last epoch's or the epoch with the best PGD
accuracy on a validation part carved from the training split (never the
test split, which the sweep reports on).

Under several processes (``world``) it is DDP: every rank draws the same
seeded permutation, a DistributedSampler gives each its share, local batches
make up the global batch, gradients are all-reduced, and evaluation is
sharded with counts summed over ranks, so every rank takes the same decisions. ``scaling: sqrt`` applies seed 002's rule:
global batch x world size, learning rate x sqrt(world size).

It runs on the core's loop (:func:`tinyscale.trainer.fit`, with its device side
:class:`tinyscale.train.DeviceLoop` or ``tinyscale.xla.XlaLoop``): the study gives
its batches, loss and per-epoch evaluation as an :class:`AdversarialTask`.
"""
from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..dist import SINGLE, World
from ..train import DeviceLoop, epoch_index, scaled_recipe
from ..trainer import Settings, fit
from .attack import pgd
from .data import Dataset
from .models import TRMConfig, TRMMLP

log = logging.getLogger("tinyscale")


@dataclass
class TrainResult:
    model: TRMMLP
    history: list[dict]     # one row per epoch
    metrics: dict           # clean/PGD accuracy of the kept weights on the test split


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: dict | None = None,
             batch_size: int = 1024, world: World = SINGLE) -> float:
    """Clean accuracy, or PGD accuracy when ``attack`` (eps, steps, step_size) is given.

    With several ranks each evaluates its share and the counts are summed.
    """
    correct = 0
    idx = torch.tensor(world.shard(range(len(x))), dtype=torch.long, device=x.device)
    x, y = x[idx], y[idx]
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        if attack:
            xb = pgd(model, xb, yb, attack["eps"], attack["steps"], attack["step_size"] * attack["eps"],
                     random_start=attack.get("random_start", True), loss="ce", stop_on_success=False).x_best
        with torch.no_grad():
            correct += int((model(xb).argmax(1) == yb).sum())
    return world.sum(correct) / max(1, world.sum(len(x)))


class AdversarialTask:
    """The :class:`tinyscale.trainer.Task` of this study: an epoch is one pass over the
    training part in a seeded order; every epoch ends with an evaluation (clean and PGD
    test accuracy, and the validation PGD accuracy that picks the kept epoch)."""

    def __init__(self, net: TRMMLP, loop: DeviceLoop, x_tr, y_tr, x_test, y_test, x_val, y_val,
                 recipe: dict, eval_attack: dict, seed: int):
        self.net, self.loop, self.recipe, self.eval_attack, self.seed = net, loop, recipe, eval_attack, seed
        self.x_tr, self.y_tr, self.x_test, self.y_test, self.x_val, self.y_val = x_tr, y_tr, x_test, y_test, x_val, y_val
        self.local_batch = max(1, recipe["batch_size"] // loop.world_size)
        self.steps_per_epoch = math.ceil(math.ceil(len(x_tr) / loop.world_size) / self.local_batch)
        self.epoch, self.best = 0, (-1.0, None)

    def batches(self, start_step: int):
        gen = torch.Generator().manual_seed(self.seed)
        for epoch in range(self.recipe["epochs"]):
            index = epoch_index(len(self.x_tr), gen, self.loop, self.local_batch, self.steps_per_epoch)
            for step, idx in enumerate(index):
                if epoch * self.steps_per_epoch + step >= start_step:
                    idx = idx.to(self.x_tr.device)
                    yield self.x_tr[idx], self.y_tr[idx]

    def loss(self, model: nn.Module, batch):
        xb, yb = batch
        loss = F.cross_entropy(model(xb), yb)
        adv = self.recipe.get("adversarial")
        if adv:
            x_adv = pgd(self.net, xb, yb, adv["eps"], adv["steps"], adv["step_size"] * adv["eps"],
                        random_start=adv["random_start"], loss="ce", stop_on_success=False).x_best
            w = adv["clean_weight"]
            loss = w * loss + (1 - w) * F.cross_entropy(model(x_adv), yb)
        n = torch.tensor(float(len(yb)), dtype=torch.float64, device=loss.device)
        return loss, torch.stack([loss.detach().double() * n, n])

    def train_metrics(self, sums: list[float]) -> dict:
        return {"loss": sums[0] / sums[1]}

    def evaluate(self, model: nn.Module) -> dict:
        self.epoch += 1
        world = self.loop.eval_world
        row = {"epoch": self.epoch,
               "clean_acc": accuracy(model, self.x_test, self.y_test, world=world),
               "pgd_acc": accuracy(model, self.x_test, self.y_test, self.eval_attack, world=world)}
        if len(self.x_val):
            row["val_pgd_acc"] = accuracy(model, self.x_val, self.y_val, self.eval_attack, world=world)
            if row["val_pgd_acc"] > self.best[0]:
                self.best = (row["val_pgd_acc"], copy.deepcopy(model.state_dict()))
        log.info("epoch %d/%d clean %.3f pgd %.3f", self.epoch, self.recipe["epochs"],
                 row["clean_acc"], row["pgd_acc"])
        return row

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "best_acc": self.best[0], "best": self.best[1] or {}}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.best = state["epoch"], (state["best_acc"], state["best"] or None)


def train(ds: Dataset, model_cfg: dict, recipe: dict, eval_attack: dict, seed: int,
          device: torch.device, validation_fraction: float = 0.1, world: World = SINGLE,
          scaling: str = "off", loop: DeviceLoop | None = None) -> TrainResult:
    """Train on ``device`` under ``world``, or as ``loop`` says when one is given."""
    loop = loop or DeviceLoop(device, world)
    torch.manual_seed(seed)
    net = TRMMLP(TRMConfig(input_dim=ds.input_dim, **model_cfg))
    recipe = scaled_recipe(recipe, loop.world_size, scaling)
    x_all, y_all = (t.to(loop.eval_device) for t in ds.tensors("train"))
    x_test, y_test = (t.to(loop.eval_device) for t in ds.tensors("test"))
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x_all)))
    n_val = int(round(validation_fraction * len(x_all))) if recipe["select"] == "best_adversarial" else 0
    val_idx, tr_idx = order[:n_val].to(loop.eval_device), order[n_val:].to(loop.eval_device)
    task = AdversarialTask(net, loop, x_all[tr_idx], y_all[tr_idx], x_test, y_test, x_all[val_idx],
                           y_all[val_idx], recipe, eval_attack, seed)
    spe = task.steps_per_epoch
    settings = Settings(steps=recipe["epochs"] * spe, eval_every=spe, lr=recipe["lr"],
                        warmup_steps=round(recipe.get("warmup_epochs", 0) * spe),
                        lr_schedule=recipe["lr_schedule"], lr_min=recipe["lr_min"],
                        weight_decay=recipe["weight_decay"], betas=(0.9, 0.999))
    fitted = fit(task, net, loop, settings, desc="train")
    history = [{"epoch": r["epoch"], **{k: v for k, v in r.items() if k not in ("step", "epoch")}}
               for r in fitted.history]

    host = copy.deepcopy(net).to(loop.eval_device)
    host.load_state_dict(fitted.weights)
    kept_epoch = len(history)
    best = task.best
    if n_val:
        host.load_state_dict(best[1])
        kept_epoch = 1 + [r["val_pgd_acc"] for r in history].index(best[0])
    host.eval()
    eval_world = loop.eval_world
    metrics = {"clean_acc": accuracy(host, x_test, y_test, world=eval_world),
               "pgd_acc": accuracy(host, x_test, y_test, eval_attack, world=eval_world),
               "kept_epoch": kept_epoch, "eval_attack": eval_attack,
               "test_samples": len(x_test), "world_size": loop.world_size,
               "global_batch": recipe["batch_size"], "lr": recipe["lr"], **loop.extra_metrics()}
    # the log's last lines: which weights were kept, why, and what they score on the test split
    name = attack_name(eval_attack)
    why = (f"best validation PGD accuracy {best[0]:.3f} ({name}, {n_val} samples)" if n_val
           else "last epoch")
    log.info("kept epoch %d/%d: %s", kept_epoch, recipe["epochs"], why)
    log.info("test (%d samples): clean accuracy %.3f, PGD accuracy %.3f (%s)", len(x_test),
             metrics["clean_acc"], metrics["pgd_acc"], name)
    return TrainResult(host.cpu(), history, metrics)


def attack_name(attack: dict | None) -> str:
    """E.g. ``PGD-10 eps 0.1`` (``no attack`` for an empty one)."""
    return f"PGD-{attack['steps']} eps {attack['eps']:g}" if attack else "no attack"
