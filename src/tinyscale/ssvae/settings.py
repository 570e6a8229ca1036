"""The SSVAE study's grid from its config block (imports nothing heavy: the rules read it).

The grid is the union of the config's slices, each the Cartesian product of its n_labels,
corruption and alpha lists, times the seeds: the seed's two are the alpha sweep at no
corruption and the corruption sweep at alpha 50. A point is one training run, the file
``results/ssvae/runs/n_labels~N/corruption~C/alpha~A/seed~S/metrics.json``.
"""
from __future__ import annotations

import itertools
import math
import os

from ..errors import ConfigError

AXES = ("n_labels", "corruption", "alpha", "seed")


def points(block: dict) -> list[tuple[int, float, float, int]]:
    """The grid's points (n_labels, corruption, alpha, seed), sorted, each once."""
    grid = block["grid"]
    found = set()
    for name, s in grid["slices"].items():
        for n, c, a in itertools.product(s["n_labels"], s["corruption"], s["alpha"]):
            for seed in grid["seeds"]:
                found.add((int(n), float(c), float(a), int(seed)))
    return sorted(found)


def parse_point(values: dict, key: str = "ssvae.grid") -> tuple[int, float, float, int]:
    """A point from the strings of a target's path (its wildcards); one error naming what is wrong."""
    try:
        n, c, a, s = int(values["n_labels"]), float(values["corruption"]), float(values["alpha"]), int(values["seed"])
    except (KeyError, ValueError) as err:
        raise ConfigError(f"{key}: not a grid point {dict(values)} ({err})") from None
    if n < 1:
        raise ConfigError(f"{key}: n_labels {n} must be at least 1")
    if not 0 <= c <= 1:
        raise ConfigError(f"{key}: corruption {c} is not a fraction in [0, 1]")
    if not (a >= 0 and math.isfinite(a)):
        raise ConfigError(f"{key}: alpha {a} must be a finite number >= 0")
    return n, c, a, s


def check(block: dict, config: dict | None = None) -> None:
    """What the schema cannot say: every slice names values, n_labels at most the training set."""
    data = block["data"]
    if data["dataset"] == "mnist":
        if not data["path"]:
            raise ConfigError("config key 'ssvae.data.path': required for dataset mnist (the folder of the four IDX files)")
        if not os.path.isdir(data["path"]):
            raise ConfigError(f"config key 'ssvae.data.path': {data['path']} is not a folder")
    train_images = TRAIN_IMAGES.get(block["data"]["dataset"]) if block["data"]["test_fraction"] == 0.2 else None
    for name, s in block["grid"]["slices"].items():
        for axis in ("n_labels", "corruption", "alpha"):
            if not s[axis]:
                raise ConfigError(f"config key 'ssvae.grid.slices.{name}.{axis}': empty (every slice names its values)")
        if train_images is not None and max(s["n_labels"]) > train_images:
            raise ConfigError(f"config key 'ssvae.grid.slices.{name}.n_labels': {max(s['n_labels'])} labels but the "
                              f"{block['data']['dataset']} training set has {train_images} images")


# The training set's size under the default split (the digits: 1,797 images, 20% of each class
# held out): n_labels is checked against it before any job runs; MNIST's is 60,000.
TRAIN_IMAGES = {"digits": 1438, "mnist": 60000}
