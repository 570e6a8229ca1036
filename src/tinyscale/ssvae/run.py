"""One grid point from start to metrics: the labelled set, training on the core loop, and the
record ``metrics.json`` holds (the seed's per-configuration fields and more)."""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import runtime
from ..train import DeviceLoop
from ..trainer import Resume, fit
from .data import Labelled, Pixels, labelled_set
from .metrics import disentanglement
from .model import SSVAE, build_model
from .training import PointTraining, settings


def add_point_arguments(p) -> None:
    """A script's options naming the study's settings and a grid point (its seed is --seed)."""
    from ..cli import json_arg

    p.add_argument("--block", type=json_arg, required=True, help="the ssvae block (JSON)")
    p.add_argument("--n-labels", type=int, required=True)
    p.add_argument("--corruption", type=float, required=True)
    p.add_argument("--alpha", type=float, required=True)


def point_of(a, seed: int | None = None) -> tuple[int, float, float, int]:
    """The grid point the parsed options name, checked (one error naming what is wrong: a target
    can name any values)."""
    from .settings import parse_point

    seed = a.seed if seed is None else seed
    where = f"grid point n_labels~{a.n_labels}/corruption~{a.corruption:g}/alpha~{a.alpha:g}/seed~{seed}"
    return parse_point({"n_labels": a.n_labels, "corruption": a.corruption, "alpha": a.alpha, "seed": seed},
                       key=where)


def labelled_for(data: Pixels, n_labels: int, corruption: float, seed: int) -> Labelled:
    return labelled_set(data.train_y.cpu().numpy(), n_labels, corruption, seed, data.n_classes)


def init_model(model: dict, data: Pixels, seed: int) -> SSVAE:
    """The network's initial weights, drawn from ``seed`` alone (equal seeds, equal starts)."""
    torch.manual_seed(seed)
    return build_model(model, data.input_dim, data.n_classes)


def train_point(data: Pixels, block: dict, point: tuple[int, float, float, int], loop: DeviceLoop,
                state_dir: str | None = None) -> dict:
    """Train grid point (n_labels, corruption, alpha, seed) with the ssvae block's settings on
    ``data`` (on the loop's device); returns the metrics record (on every rank)."""
    n_labels, corruption, alpha, seed = point
    labelled = labelled_for(data, n_labels, corruption, seed)
    net = init_model(block["model"], data, seed)
    task = PointTraining(data, labelled, block["training"], block["model"], alpha, corruption, seed,
                         loop.rank, loop.world_size)
    s = settings(block["training"], task.steps_per_epoch)
    resume = None
    if state_dir:
        resume = Resume(state_dir, {"settings": s.hashed(), "model": block["model"], "data": block["data"],
                                    "training": block["training"], "point": list(point),
                                    "device": loop.device.type}, loop.rank, loop.world_size)
    t0 = time.monotonic()
    result = fit(task, net, loop, s, resume, desc=f"n={n_labels} c={corruption} a={alpha} s={seed}")
    net.load_state_dict(result.weights)
    record = point_record(net, data, block, point, labelled, result.history, task.steps_per_epoch,
                          loop.device, loop.world_size)
    record.update(seconds=result.seconds, resumed_from_step=result.resumed_from,
                  images_per_s=len(data.train_y) * block["training"]["epochs"] / max(result.seconds, 1e-9),
                  wall_seconds=time.monotonic() - t0)
    if resume:
        resume.clear()
    return record


@torch.no_grad()
def point_record(net: SSVAE, data: Pixels, block: dict, point, labelled: Labelled, history: list[dict],
                 steps_per_epoch: int, device: torch.device, world_size: int) -> dict:
    n_labels, corruption, alpha, seed = point
    net.eval()
    first = data.test_x[:block["metrics"]["test_images"]]
    z = net.to(device).style_mean(first).cpu().numpy()
    curves = {"epoch": [row["step"] // steps_per_epoch for row in history]}
    for key in ("train_loss", "train_elbo", "test_accuracy", "test_elbo"):
        curves[key] = [row[key] for row in history]
    last = history[-1]
    return {
        "dataset": data.name, "n_labels": n_labels, "corruption_rate": corruption, "alpha": alpha, "seed": seed,
        "final_test_accuracy": last["test_accuracy"], "final_test_elbo": last["test_elbo"],
        "curves": curves,
        "disentanglement": disentanglement(z, data.test_y[:len(first)].cpu().numpy(), data.n_classes, seed),
        "labelled": {"sha256": labelled.sha256(), "count": int(len(labelled.index)),
                     "corrupted": int(labelled.corrupted.sum()),
                     "per_class": np.bincount(data.train_y.cpu().numpy()[labelled.index],
                                              minlength=data.n_classes).tolist()},
        "label_scheme": block["training"]["label_scheme"],
        "config": {k: block[k] for k in ("data", "model", "training", "metrics")},
        "device": runtime.device_kind(device), "world_size": world_size,
    }
