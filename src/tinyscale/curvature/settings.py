"""The curvature block's schedule and checks (run at every Snakemake start: imports nothing heavy).

Training is a chain of tasks: task t trains epochs [t E, (t + 1) E) (E = epochs_per_task) on the
first ``first + t per_task`` classes of the class order, and saves a checkpoint every
``checkpoint_every`` epochs; epoch 0's checkpoint is the untrained net.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

KEY = "curvature"
N_CLASSES = {"digits": 10, "cifar100": 100}


def check(block: dict, config: dict) -> None:
    data, classes, training = block["data"], block["classes"], block["training"]
    if data["dataset"] == "cifar100":
        if not data["path"]:
            raise ConfigError(f"config key '{KEY}.data.path': required for dataset cifar100 "
                              "(the cifar-100-python folder with train, test and meta)")
        if not Path(data["path"]).is_dir():
            raise ConfigError(f"config key '{KEY}.data.path': folder {data['path']!r} does not exist")
    n = N_CLASSES[data["dataset"]]
    if classes_at_task(block, classes["tasks"] - 1) > n:
        raise ConfigError(f"config key '{KEY}.classes': {classes['first']} + {classes['per_task']} x "
                          f"{classes['tasks'] - 1} classes over {classes['tasks']} tasks, but "
                          f"{data['dataset']} has {n}")
    if training["epochs_per_task"] % training["checkpoint_every"]:
        raise ConfigError(f"config key '{KEY}.training.checkpoint_every': {training['checkpoint_every']} "
                          f"does not divide epochs_per_task {training['epochs_per_task']}")
    late = [m for m in training["lr_milestones"] if m >= training["epochs_per_task"]]
    if late:
        raise ConfigError(f"config key '{KEY}.training.lr_milestones': {late[0]} is not a task-epoch "
                          f"(a task has {training['epochs_per_task']})")
    if training["early_stopping"] and not data["val_fraction"]:
        raise ConfigError(f"config key '{KEY}.training.early_stopping': needs validation images "
                          f"({KEY}.data.val_fraction is 0)")
    if len(block["model"]["widths"]) != len(block["model"]["blocks"]):
        raise ConfigError(f"config key '{KEY}.model': widths and blocks must name the same number of stages")
    if block["checkpoints"] is not None and not Path(block["checkpoints"]).is_dir():
        raise ConfigError(f"config key '{KEY}.checkpoints': folder {block['checkpoints']!r} does not exist")
    wanted = block["analysis"]["epochs"]
    if wanted is not None:
        saved = set(saved_epochs(block))
        missing = [e for e in wanted if e not in saved]
        if missing:
            raise ConfigError(f"config key '{KEY}.analysis.epochs': epoch {missing[0]} is not a saved epoch "
                              f"(every {training['checkpoint_every']} up to {total_epochs(block)})")


def n_classes(block: dict) -> int:
    return N_CLASSES[block["data"]["dataset"]]


def classes_at_task(block: dict, task: int) -> int:
    c = block["classes"]
    return c["first"] + c["per_task"] * task


def total_epochs(block: dict) -> int:
    return block["classes"]["tasks"] * block["training"]["epochs_per_task"]


def saved_epochs(block: dict) -> list[int]:
    every = block["training"]["checkpoint_every"]
    return list(range(0, total_epochs(block) + 1, every))


def task_epochs(block: dict, task: int) -> list[int]:
    """The epochs whose checkpoints task ``task`` writes (its last is the task's boundary)."""
    E, every = block["training"]["epochs_per_task"], block["training"]["checkpoint_every"]
    return list(range(task * E + every, (task + 1) * E + 1, every))


def analysed_epochs(block: dict) -> list[int]:
    wanted = block["analysis"]["epochs"]
    return saved_epochs(block) if wanted is None else sorted(set(wanted))


def trained_task(block: dict, epoch: int) -> int:
    """The task whose classes the epoch-``epoch`` checkpoint was trained on (task 0 for the
    untrained net). With seed_compatible, the seed's rule instead: epoch // E, which at a
    task boundary counts the next task's classes, which the checkpoint has not seen."""
    E, tasks = block["training"]["epochs_per_task"], block["classes"]["tasks"]
    if block["analysis"]["seed_compatible"]:
        return min(epoch // E, tasks - 1)
    return max(epoch - 1, 0) // E


def arrival_task(block: dict, position: int) -> int:
    """The task in which the class at ``position`` of the class order arrives."""
    c = block["classes"]
    return 0 if position < c["first"] else 1 + (position - c["first"]) // c["per_task"]


def checkpoint_name(block: dict, epoch: int) -> str:
    return f"index-{block['experiment_index']}_epoch-{epoch}.pt"
