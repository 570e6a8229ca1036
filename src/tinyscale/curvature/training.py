"""Class-incremental training, one task at a time, on the core's loop (:func:`tinyscale.trainer.fit`).

A task trains the network it is given (the previous task's last checkpoint) for
``epochs_per_task`` epochs on the training images whose label is among its active
classes, with the seed's recipe: SGD with momentum and weight decay, the lr
restarting at every task and multiplied by ``lr_gamma`` at the task-epochs of
``lr_milestones``, a cross entropy on the active classes' logits only, and flip,
crop and rotation augmentation. The optimizer restarts with the lr (a checkpoint
holds the weights only, as the seed's do). Every epoch evaluates the validation
images of the active classes; with early stopping the task ends on its best
validation accuracy's weights.

Epoch ``e``'s shuffle and step ``s``'s augmentation come from generators seeded
with (seed, task, e) and (seed, task, s), so the batches of any step are known
without replaying the ones before it (resume).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import load_file
from ..errors import CheckpointError, DataError
from ..trainer import Settings
from . import data as curvature_data


@dataclass(frozen=True)
class StudyData:
    """The study's training images as every rule sees them (results/curvature/data.npz applied)."""
    images: torch.Tensor          # every training image of the dataset, normalised, N x C x H x W
    labels: np.ndarray            # the labels training uses (with the injected noise)
    true_labels: np.ndarray
    mislabelled: np.ndarray       # bool
    train_index: np.ndarray       # images trained on (the rest of the dataset's training set is validation)
    val_index: np.ndarray
    class_order: np.ndarray
    n_classes: int

    def of_classes(self, index: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The images of ``index`` whose (training) label is one of ``classes``, in index order."""
        return index[np.isin(self.labels[index], classes)]


def load_images(spec: dict, seed: int) -> curvature_data.Images:
    """The dataset of ``spec`` (the curvature.data block; digits' test split is seeded)."""
    return curvature_data.load(spec["dataset"], spec["path"], test_fraction=spec["test_fraction"], seed=seed)


def load_study_data(spec: dict, seed: int, split_file: str | Path, order_file: str | Path) -> StudyData:
    """The dataset with the split, labels and class order the data rule wrote."""
    images = load_images(spec, seed)
    try:
        with np.load(split_file, allow_pickle=False) as z:
            split = {k: z[k] for k in ("labels", "true_labels", "mislabelled", "train_index", "val_index")}
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{split_file}: not the study's data file ({err})") from err
    if len(split["labels"]) != len(images.train_y):
        raise DataError(f"{split_file}: {len(split['labels'])} labels for {len(images.train_y)} training images "
                        f"of {spec['dataset']} (written for another dataset?)")
    order = curvature_data.read_class_order(order_file, images.n_classes)
    x = images.normalise(images.to_float(images.train_x))
    return StudyData(x, split["labels"].astype(np.int64), split["true_labels"].astype(np.int64),
                     split["mislabelled"].astype(bool), split["train_index"], split["val_index"], order,
                     images.n_classes)


def positions(active: np.ndarray, n_classes: int) -> torch.Tensor:
    """Each class id's position among the active classes (-1 for the others)."""
    pos = torch.full((n_classes,), -1, dtype=torch.long)
    pos[torch.as_tensor(active, dtype=torch.long)] = torch.arange(len(active))
    return pos


class TaskTraining:
    """One task's batches, loss and validation (the core loop's Task)."""

    def __init__(self, data: StudyData, training: dict, active: list[int], task: int, seed: int):
        t = training
        self.active = torch.as_tensor(active, dtype=torch.long)
        self.pos = positions(self.active.numpy(), data.n_classes)
        train = data.of_classes(data.train_index, self.active.numpy())
        val = data.of_classes(data.val_index, self.active.numpy())
        self.x, self.y = data.images[train], torch.as_tensor(data.labels[train])
        self.val_x, self.val_y = data.images[val], torch.as_tensor(data.labels[val])
        self.batch = t["batch_size"]
        self.steps_per_epoch = math.ceil(len(train) / self.batch)
        self.augment = t["augment"]
        self.seed, self.task = seed, task

    def batches(self, start_step: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        step = start_step
        while True:
            epoch, b = divmod(step, self.steps_per_epoch)
            order = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(
                _seed(self.seed, self.task, epoch)))
            idx = order[b * self.batch:(b + 1) * self.batch]
            gen = torch.Generator().manual_seed(_seed(self.seed, self.task, 10 ** 9 + step))
            a = self.augment
            x = curvature_data.augment(self.x[idx], gen, a["flip"], a["crop_padding"], a["rotation_degrees"])
            yield x, self.pos[self.y[idx]]
            step += 1

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, target = batch
        logits = model(x)[:, self.active.to(x.device)]
        loss = F.cross_entropy(logits, target)
        correct = (logits.argmax(1) == target).sum()
        return loss, torch.stack([loss.detach() * len(target), correct.float(), torch.tensor(
            float(len(target)), device=x.device)])

    def train_metrics(self, sums: list[float]) -> dict[str, float]:
        loss, correct, n = sums
        return {"train_loss": loss / max(n, 1), "train_acc": correct / max(n, 1)}

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not len(self.val_y):
            return {}
        device = next(model.parameters()).device
        loss = correct = 0.0
        for i in range(0, len(self.val_y), 512):
            x = self.val_x[i:i + 512].to(device)
            target = self.pos[self.val_y[i:i + 512]].to(device)
            logits = model(x)[:, self.active.to(device)]
            loss += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
        return {"val_loss": loss / len(self.val_y), "val_acc": correct / len(self.val_y)}

    def state_dict(self) -> dict:
        return {}          # nothing carried: the batches of a step follow from its number

    def load_state_dict(self, state: dict) -> None:
        pass


def _seed(*parts: int) -> int:
    """One 63-bit seed from several integers (distinct tuples, distinct seeds)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def task_settings(training: dict, steps_per_epoch: int) -> Settings:
    """The core loop's settings for one task (``training``: the curvature.training block): SGD,
    an lr restarted per task with step decays, an evaluation every epoch, the best validation
    weights kept with early stopping."""
    t = training
    return Settings(steps=t["epochs_per_task"] * steps_per_epoch, eval_every=steps_per_epoch, lr=t["lr"],
                    optimizer="sgd", momentum=t["momentum"], weight_decay=t["weight_decay"],
                    lr_schedule="step", lr_milestones=tuple(m * steps_per_epoch for m in t["lr_milestones"]),
                    lr_gamma=t["lr_gamma"], keep_best="val_acc" if t["early_stopping"] else None,
                    checkpoint_every_s=t["checkpoint_every_s"])


def save_weights(path: str | Path, weights: dict) -> None:
    """A checkpoint as the seed writes them: the network's state dict alone (weights_only loads it)."""
    from ..io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in weights.items()}, tmp)


def load_weights(path: str | Path, net: nn.Module) -> nn.Module:
    """``net`` with the state dict of checkpoint ``path``; one error naming the file when it is not
    a state dict of this network (a missing or extra tensor, or another shape)."""
    path = Path(path)
    state = load_file(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}   # saved from a DDP-wrapped net
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{path}: does not match the configured net "
                              f"({'missing ' + missing[0] if missing else 'unexpected ' + extra[0]}"
                              f"{f' and {len(missing) + len(extra) - 1} more' if len(missing) + len(extra) > 1 else ''}"
                              "; see curvature.model)")
    for k, v in expected.items():
        if state[k].shape != v.shape:
            raise CheckpointError(f"{path}: tensor {k} has shape {tuple(state[k].shape)}, the configured net's "
                                  f"is {tuple(v.shape)} (see curvature.model)")
    net.load_state_dict(state)
    return net
