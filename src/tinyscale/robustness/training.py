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

The device side is the core's :class:`tinyscale.train.DeviceLoop` (or
``tinyscale.xla.XlaLoop`` on an XLA device).
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
from ..train import DeviceLoop, epoch_index, lr_at, scaled_recipe
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


def train(ds: Dataset, model_cfg: dict, recipe: dict, eval_attack: dict, seed: int,
          device: torch.device, validation_fraction: float = 0.1, world: World = SINGLE,
          scaling: str = "off", loop: DeviceLoop | None = None) -> TrainResult:
    """Train on ``device`` under ``world``, or as ``loop`` says when one is given."""
    loop = loop or DeviceLoop(device, world)
    torch.manual_seed(seed)
    net = TRMMLP(TRMConfig(input_dim=ds.input_dim, **model_cfg))
    model = loop.prepare(net)
    recipe = scaled_recipe(recipe, loop.world_size, scaling)
    x_all, y_all = (t.to(loop.eval_device) for t in ds.tensors("train"))
    x_test, y_test = (t.to(loop.eval_device) for t in ds.tensors("test"))
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x_all)))
    n_val = int(round(validation_fraction * len(x_all))) if recipe["select"] == "best_adversarial" else 0
    val_idx, tr_idx = order[:n_val].to(loop.eval_device), order[n_val:].to(loop.eval_device)
    x_tr, y_tr = x_all[tr_idx], y_all[tr_idx]

    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    adv = recipe.get("adversarial")
    gen = torch.Generator().manual_seed(seed)
    local_batch = max(1, recipe["batch_size"] // loop.world_size)
    steps_per_epoch = math.ceil(math.ceil(len(x_tr) / loop.world_size) / local_batch)
    eval_world = loop.eval_world
    history, best = [], (-1.0, None)
    for epoch in range(recipe["epochs"]):
        model.train()
        index = epoch_index(len(x_tr), gen, loop, local_batch, steps_per_epoch)
        losses, sizes = [], []   # read once per epoch: no device-to-host copy per step
        for step, (xb, yb) in enumerate(loop.batches(x_tr, y_tr, index)):
            for group in opt.param_groups:
                group["lr"] = lr_at(recipe, epoch, step, steps_per_epoch)
            loss = F.cross_entropy(model(xb), yb)
            if adv:
                x_adv = pgd(net, xb, yb, adv["eps"], adv["steps"], adv["step_size"] * adv["eps"],
                            random_start=adv["random_start"], loss="ce", stop_on_success=False).x_best
                w = adv["clean_weight"]
                loss = w * loss + (1 - w) * F.cross_entropy(model(x_adv), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            loop.optimizer_step(opt)
            loop.step_done()
            losses.append(loss.detach())
            sizes.append(len(yb))
        total_loss = sum(v * n for v, n in zip(torch.stack(losses).cpu().tolist(), sizes))
        model.eval()
        host = loop.host(net)
        row = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"],
               "loss": loop.sum(total_loss) / loop.sum(sum(sizes)),
               "clean_acc": accuracy(host, x_test, y_test, world=eval_world),
               "pgd_acc": accuracy(host, x_test, y_test, eval_attack, world=eval_world)}
        if n_val:
            row["val_pgd_acc"] = accuracy(host, x_all[val_idx], y_all[val_idx], eval_attack, world=eval_world)
            if row["val_pgd_acc"] > best[0]:
                best = (row["val_pgd_acc"], copy.deepcopy(host.state_dict()))
        history.append(row)
        log.info("epoch %d/%d loss %.4f clean %.3f pgd %.3f", epoch + 1, recipe["epochs"],
                 row["loss"], row["clean_acc"], row["pgd_acc"])
    host = loop.host(net)
    kept_epoch = len(history)
    if n_val:
        host.load_state_dict(best[1])
        kept_epoch = 1 + [r["val_pgd_acc"] for r in history].index(best[0])
    host.eval()
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
