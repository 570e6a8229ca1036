"""Data of the SSVAE study: MNIST (IDX files) or scikit-learn's digits as flat pixels in [0, 1],
and the labelled set of a grid point.

The labelled set is done as the seed meant it, not as it ran: ``n_labels`` is a fixed subset of
exactly n training images, balanced over the classes (n // C of each, one more for n % C classes
chosen by the seed), drawn by the run's seed, and nested (the first n of a seed's per-class
orders, so 100 labels are among its 600). Its labels are corrupted once, before training:
exactly round(rate x n) of them, chosen by the seed, get a uniformly chosen wrong class. The
run records the indices' hash and which labels were corrupted.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..datasets import digits_arrays, mislabel, stratified_holdout
from ..errors import ConfigError, DataError
from ..idx import load_mnist

DATASETS = ("digits", "mnist")


@dataclass
class Pixels:
    """A dataset as flat float32 pixels in [0, 1] (N x D) with int64 labels."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    image_shape: tuple[int, int]
    name: str
    n_classes: int = 10

    @property
    def input_dim(self) -> int:
        return int(self.train_x.shape[1])

    def to(self, device: torch.device | str) -> "Pixels":
        """The whole dataset on ``device``, as one tensor per split (MNIST is 220 MB as float32)."""
        return Pixels(*(t.to(device) for t in (self.train_x, self.train_y, self.test_x, self.test_y)),
                      self.image_shape, self.name, self.n_classes)


def _pixels(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, scale: float,
            shape: tuple[int, int], name: str) -> Pixels:
    flat = lambda a: torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / scale)  # noqa: E731
    label = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return Pixels(flat(train_x), label(train_y), flat(test_x), label(test_y), shape, name)


def load(spec: dict, key: str = "ssvae.data") -> Pixels:
    """The dataset of the ssvae.data block: ``mnist`` from the four IDX files of ``path`` (its
    60,000 / 10,000 split), or ``digits`` (1,797 8x8 images, pixels 0..16) with a per-class test
    split of ``test_fraction`` drawn by ``split_seed``."""
    if spec["dataset"] == "mnist":
        if not spec.get("path"):
            raise ConfigError(f"{key}.path: required for dataset mnist (the folder of the four IDX files)")
        m = load_mnist(spec["path"])
        return _pixels(m["x_train"], m["y_train"], m["x_test"], m["y_test"], 255.0, (28, 28), "mnist")
    if spec["dataset"] == "digits":
        pixels, labels = digits_arrays()
        train, test = stratified_holdout(labels, spec["test_fraction"], spec["split_seed"])
        return _pixels(pixels[train], labels[train], pixels[test], labels[test], 16.0, (8, 8), "digits")
    raise ConfigError(f"{key}.dataset: {spec['dataset']!r} is not one of {', '.join(DATASETS)}")


@dataclass(frozen=True)
class Labelled:
    """The labelled set of one run: which training images, and the labels training sees."""
    index: np.ndarray         # sorted indices into the training set
    labels: np.ndarray        # the labels used (after corruption)
    corrupted: np.ndarray     # bool, per labelled image

    def sha256(self) -> str:
        """The hash of the indices (int64, in order): equal hashes, equal labelled sets."""
        return hashlib.sha256(np.ascontiguousarray(self.index, dtype=np.int64).tobytes()).hexdigest()


def labelled_set(labels: np.ndarray, n: int, corruption: float, seed: int, n_classes: int = 10,
                 key: str = "ssvae.grid") -> Labelled:
    """The class-balanced, seeded labelled set of exactly ``n`` images of ``labels`` (the training
    labels), with round(corruption x n) of its labels flipped to a uniformly chosen wrong class."""
    labels = np.asarray(labels, dtype=np.int64)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 < n <= len(labels):
        raise ConfigError(f"{key}: n_labels {n!r} is not a count from 1 to the {len(labels)} training images")
    rng = np.random.default_rng([seed, 4004])
    per_class = np.full(n_classes, n // n_classes)
    per_class[rng.permutation(n_classes)[:n % n_classes]] += 1
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class[c]:
            raise ConfigError(f"{key}: n_labels {n} needs {per_class[c]} images of class {c}; "
                              f"the training set has {len(members)}")
        chosen.append(rng.permutation(members)[:per_class[c]])
    index = np.sort(np.concatenate(chosen))
    noisy, corrupted = mislabel(labels[index], corruption, n_classes, seed=[seed, 4005],
                                key=f"{key}: corruption")
    return Labelled(index, noisy, corrupted)


def check_file(path: str | Path) -> None:
    """A data folder's existence, for a clear error before any job starts."""
    if not Path(path).is_dir():
        raise DataError(f"{path}: folder not found")
