"""Data helpers more than one study uses: scikit-learn's digits read from the file it ships,
per-class held-out splits, and label noise.

All randomness comes from numpy generators seeded with an integer.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits' pixels (N x 64, uint8) and labels as scikit-learn ships them
    (datasets/data/digits.csv.gz: 64 pixels and the label a row), read without importing
    scikit-learn, whose import alone took 1.5 s of every job that reads the digits."""
    spec = importlib.util.find_spec("sklearn")       # finds the package, imports nothing
    if spec is None or not spec.submodule_search_locations:
        raise DataError("scikit-learn is not installed: it ships the digits dataset")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not scikit-learn's digits table ({err})") from err
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held-out) indices: round(fraction * n_c) of each class's n_c held out."""
    rng = np.random.default_rng(seed)
    held = [rng.choice(members, size=int(round(fraction * len(members))), replace=False)
            for members in (np.flatnonzero(labels == c) for c in np.unique(labels))]
    held_idx = np.sort(np.concatenate(held)).astype(np.int64) if held else np.zeros(0, np.int64)
    keep = np.ones(len(labels), dtype=bool)
    keep[held_idx] = False
    return np.flatnonzero(keep).astype(np.int64), held_idx


def check_fraction(value: float, key: str, upper_inclusive: bool) -> None:
    ok = 0 <= value <= 1 if upper_inclusive else 0 <= value < 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok:
        bound = "]" if upper_inclusive else ")"
        raise ConfigError(f"{key}: {value!r} is not a fraction in [0, 1{bound}")


def mislabel(labels: np.ndarray, fraction: float, n_classes: int, seed: int,
             key: str = "curvature.data.mislabel_fraction"
             ) -> tuple[np.ndarray, np.ndarray]:
    """(noisy_labels, is_mislabelled): exactly round(fraction * N) images, chosen by
    ``seed``, get a label drawn uniformly from the other n_classes - 1 classes."""
    check_fraction(fraction, key, upper_inclusive=True)
    labels = np.asarray(labels).astype(np.int64)
    if labels.ndim != 1 or (len(labels) and (labels.min() < 0 or labels.max() >= n_classes)):
        raise ValueError(f"labels must be a 1-D array of classes 0..{n_classes - 1}")
    count = int(round(fraction * len(labels)))
    if count and n_classes < 2:
        raise ValueError("mislabelling needs at least two classes")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=count, replace=False)
    # a shift of 1..n_classes-1 reaches every other class once, never the same one
    shift = rng.integers(1, n_classes, size=count) if count else np.zeros(0, np.int64)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + shift) % n_classes
    is_mislabelled = np.zeros(len(labels), dtype=bool)
    is_mislabelled[chosen] = True
    return noisy, is_mislabelled
