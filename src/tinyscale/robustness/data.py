"""Datasets of the robustness study as one npz file, and the sample rule.

A prepared dataset stores raw pixels (uint8, flattened) and the value that
maps them to [0, 1]; models see ``pixels / max_value`` as float32, with no
further normalisation (the bounds are taken in pixel space).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..idx import load_mnist
from ..io import load_npz, write_npz

SOURCES = ("digits", "mnist")


@dataclass
class Dataset:
    x_train: np.ndarray   # (N, D) uint8 pixels
    y_train: np.ndarray   # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    max_value: float
    image_shape: tuple[int, ...]
    source: str

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs in [0, 1] (float32) and labels of a split."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return (torch.from_numpy(x.astype(np.float32) / self.max_value),
                torch.from_numpy(y.astype(np.int64)))


def load_digits_split(test_fraction: float, seed: int) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (pixel values 0..16), stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.data.astype(np.uint8)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Dataset(x_tr, y_tr, x_te, y_te, 16.0, (8, 8), "digits")


def load_mnist_folder(folder: str | Path) -> Dataset:
    """MNIST from the four IDX files (gzipped or not) in ``folder``."""
    parts = load_mnist(folder)
    shape = tuple(parts["x_train"].shape[1:])
    if tuple(parts["x_test"].shape[1:]) != shape:
        raise DataError(f"{folder}: train images are {shape} but test images are "
                        f"{tuple(parts['x_test'].shape[1:])}")
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    return Dataset(flat(parts["x_train"]), parts["y_train"].astype(np.int64),
                   flat(parts["x_test"]), parts["y_test"].astype(np.int64),
                   255.0, shape, "mnist")


def prepare(data_cfg: dict, seed: int) -> Dataset:
    if data_cfg["source"] == "digits":
        return load_digits_split(data_cfg["test_fraction"], seed)
    if not data_cfg.get("mnist_dir"):
        raise DataError("config key data.mnist_dir: data.source is 'mnist' but no folder is given")
    return load_mnist_folder(data_cfg["mnist_dir"])


def save(path: str | Path, ds: Dataset) -> None:
    write_npz(path, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test,
              max_value=np.float32(ds.max_value), image_shape=np.array(ds.image_shape),
              source=np.array(ds.source))


DATASET_KEYS = ("x_train", "y_train", "x_test", "y_test", "max_value", "image_shape", "source")


def load(path: str | Path) -> Dataset:
    z = load_npz(path, DATASET_KEYS)
    try:
        return Dataset(z["x_train"], z["y_train"], z["x_test"], z["y_test"],
                       float(z["max_value"]), tuple(int(s) for s in z["image_shape"]),
                       str(z["source"]))
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: not a prepared dataset ({err}); delete it and rerun") from err


def select_samples(n_test: int, n: int, seed: int) -> np.ndarray:
    """Indices into the test split: a seeded permutation's first ``n``.

    Asking for fewer samples gives a prefix of the same list, so sweeps of 64,
    256 and 512 samples are nested (the convergence check needs that).
    """
    if n > n_test:
        raise DataError(f"config key 'robustness.samples': {n} samples asked for but the "
                        f"test split has only {n_test}")
    return np.random.default_rng(seed).permutation(n_test)[:n]


def save_samples(path: str | Path, ds: Dataset, n: int, seed: int) -> None:
    index = select_samples(len(ds.y_test), n, seed)
    x, y = ds.tensors("test")
    write_npz(path, x=x[index].numpy(), y=y[index].numpy(), index=index.astype(np.int64))


def load_samples(path: str | Path) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    z = load_npz(path, ("x", "y", "index"))
    if not len(z["x"]) == len(z["y"]) == len(z["index"]):
        raise DataError(f"{path}: {len(z['x'])} inputs, {len(z['y'])} labels and {len(z['index'])} "
                        "indices differ in number; delete it and rerun")
    return torch.from_numpy(z["x"]), torch.from_numpy(z["y"]), z["index"]
