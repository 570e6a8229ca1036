"""Data of the curvature study: CIFAR-100 and the digits, splits, label noise,
class orders and batch augmentation.

Both datasets come back as one ``Images``: raw pixels as uint8 arrays of shape
(N, C, H, W) plus the value that maps them to [0, 1] (255 for CIFAR-100, 16 for
the digits), so that CIFAR-100's 60,000 images stay at 184 MB rather than four
times that as floats. A training step turns a batch into float32 with
``Images.to_float``, augments it with ``augment`` (in [0, 1], so that rotation
corners are black) and standardises it per channel with ``Images.normalise``.

All randomness is seeded: numpy generators from an integer seed for the splits,
the label noise and the class order; the caller's torch.Generator for the
augmentation, so that a resumed run replays the same batches.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets import check_fraction as _check_fraction, digits_arrays, stratified_holdout as _stratified_holdout
from ..datasets import mislabel  # noqa: F401  (the study's scripts and tests use it from here)
from ..errors import ConfigError, DataError

DATASETS = ("digits", "cifar100")

CIFAR100_CLASSES = 100
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


@dataclass
class Images:
    """A labelled image dataset with its train/test split and normalisation."""

    train_x: np.ndarray           # (N, C, H, W) uint8 pixels
    train_y: np.ndarray           # (N,) int64 class indices
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: list[str]
    max_value: float              # pixels / max_value lies in [0, 1]
    mean: tuple[float, ...]       # per channel, of pixels / max_value
    std: tuple[float, ...]
    name: str

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(int(s) for s in self.train_x.shape[1:])

    def to_float(self, pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 pixels (numpy or a tensor on any device) as float32 in [0, 1]."""
        pixels = torch.as_tensor(pixels)
        return pixels.to(torch.float32) / self.max_value

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """A float batch (N, C, H, W) in [0, 1] standardised per channel."""
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return (x - mean) / std


# --- CIFAR-100 ------------------------------------------------------------------------

def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 writes bytes at protocols 0-2 as _codecs.encode(text, "latin1");
    # this stand-in refuses any other codec a crafted file might name
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


# numpy's own reconstructors, taken from what it pickles, so that neither of its
# module spellings (numpy.core before 2.0, numpy._core since) has to be imported
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_FROMBUFFER = np.empty(1).__reduce_ex__(5)[0]   # protocol 5's in-band array buffers

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}
for _module in ("builtins", "__builtin__"):   # __builtin__: Python 2's name
    for _cls in (bytes, bytearray, set, frozenset):
        _ALLOWED_GLOBALS[(_module, _cls.__name__)] = _cls
del _module, _cls


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused,
    so a crafted file cannot call arbitrary functions."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")   # Python 2's str -> bytes
        self.path = path

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(f"{self.path}: refers to {module}.{name}, which a CIFAR-100 "
                            f"file never does; not loaded") from None


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with path.open("rb") as f:
            obj = _ArrayUnpickler(f, path).load()
    except DataError:
        raise
    except Exception as err:   # noqa: BLE001 - garbage bytes can raise almost anything
        raise DataError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    # the original files have bytes keys (Python 2's str); a re-pickled one may have str
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _require(path: Path, d: dict, *keys: str) -> None:
    missing = [k for k in keys if k not in d]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; "
                        f"not a cifar-100-python file")


def _read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _load_pickle(path)
    _require(path, d, "data", "fine_labels")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32 or len(data) == 0:
        what = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{path}: data must be a uint8 array of shape (N, 3072), found {what}")
    try:
        labels = np.asarray(d["fine_labels"])
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: fine_labels is not a list of integers ({err})") from err
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{path}: fine_labels must be a list of integers, "
                        f"found {labels.dtype} of shape {labels.shape}")
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(labels)} fine_labels for {len(data)} images")
    bad = np.flatnonzero((labels < 0) | (labels >= CIFAR100_CLASSES))
    if len(bad):
        raise DataError(f"{path}: fine label {int(labels[bad[0]])} at index {int(bad[0])} "
                        f"is outside 0..{CIFAR100_CLASSES - 1}")
    # each row holds the red, green and blue planes in turn, each 32 rows of 32
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_names(path: Path) -> list[str]:
    d = _load_pickle(path)
    _require(path, d, "fine_label_names")
    names = d["fine_label_names"]
    if not isinstance(names, (list, tuple)) or len(names) != CIFAR100_CLASSES \
            or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{path}: fine_label_names must be {CIFAR100_CLASSES} strings")
    try:
        return [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: a fine label name is not UTF-8 ({err})") from err


def load_cifar100(folder: str | Path) -> Images:
    """The train, test and meta files of an extracted cifar-100-python folder,
    with its 100 fine labels and the usual CIFAR-100 mean and std."""
    folder = Path(folder)
    train_x, train_y = _read_split(folder / "train")
    test_x, test_y = _read_split(folder / "test")
    names = _read_names(folder / "meta")
    return Images(train_x, train_y, test_x, test_y, names, 255.0,
                  CIFAR100_MEAN, CIFAR100_STD, "cifar100")


# --- digits ---------------------------------------------------------------------------

def load_digits_images(test_fraction: float = 0.2, seed: int = 0,
                       key: str = "curvature.data.test_fraction") -> Images:
    """scikit-learn's 1,797 8x8 digits (pixels 0..16) as 1x8x8 images, split per
    class; mean and std are those of the train pixels / 16."""
    _check_fraction(test_fraction, key, upper_inclusive=False)
    pixels, y = digits_arrays()
    x = pixels.reshape(-1, 1, 8, 8)
    train_idx, test_idx = _stratified_holdout(y, test_fraction, seed)
    scaled = x[train_idx].astype(np.float64) / 16.0
    return Images(x[train_idx], y[train_idx], x[test_idx], y[test_idx],
                  [str(d) for d in range(10)], 16.0,
                  (float(scaled.mean()),), (float(scaled.std()),), "digits")


def load(dataset: str, path: str | Path | None = None, *, test_fraction: float = 0.2,
         seed: int = 0, key: str = "curvature.data") -> Images:
    """``dataset`` ("digits" or "cifar100", the latter from the folder ``path``);
    ``key`` is the config section named in errors."""
    if dataset == "digits":
        return load_digits_images(test_fraction, seed, key=f"{key}.test_fraction")
    if dataset == "cifar100":
        if not path:
            raise ConfigError(f"{key}.path: required for dataset cifar100 "
                              f"(the extracted cifar-100-python folder)")
        return load_cifar100(path)
    raise ConfigError(f"{key}.dataset: {dataset!r} is not one of {', '.join(DATASETS)}")


# --- splits, label noise, class order ---------------------------------------------

def split_validation(labels: np.ndarray, val_fraction: float = 0.1, seed: int = 0,
                     key: str = "curvature.data.val_fraction"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train_idx, val_idx): round(val_fraction * n_c) of each class's n_c
    images go to validation (50 of CIFAR-100's 500 at 0.1)."""
    _check_fraction(val_fraction, key, upper_inclusive=False)
    return _stratified_holdout(np.asarray(labels), val_fraction, seed)


def class_order(n_classes: int, seed: int) -> np.ndarray:
    """A seeded permutation of range(n_classes) (int64)."""
    return np.random.default_rng(seed).permutation(n_classes).astype(np.int64)


def read_class_order(path: str | Path, n_classes: int) -> np.ndarray:
    """A class order stored as a .npy file; it must be a permutation of range(n_classes)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        order = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npy file ({err})") from err
    if not isinstance(order, np.ndarray):   # an .npz archive
        order.close()
        raise DataError(f"{path}: expected a .npy array, found an .npz archive")
    if order.ndim != 1 or order.dtype.kind not in "iu":
        raise DataError(f"{path}: expected a 1-D integer array, found {order.dtype} "
                        f"of shape {order.shape}")
    if not np.array_equal(np.sort(order), np.arange(n_classes)):
        raise DataError(f"{path}: not a permutation of the {n_classes} classes 0..{n_classes - 1}")
    return order.astype(np.int64)


# --- augmentation ---------------------------------------------------------------------

def _uniform(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    # drawn on the generator's device, so a CPU generator can drive a GPU batch
    return torch.rand(n, generator=generator, device=generator.device).to(device)


def _crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Each image reflect-padded by ``padding`` and cropped back at a random offset."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n), generator=generator,
                           device=generator.device).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)    # (N, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)    # (N, W)
    # four broadcast index tensors pick padded[i, ch, rows[i, r], cols[i, q]] at once
    return padded[torch.arange(n, device=x.device)[:, None, None, None],
                  torch.arange(c, device=x.device)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def _rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Each image rotated counter-clockwise by its angle about its centre (bilinear,
    zeros outside)."""
    _, _, h, w = x.shape
    rad = degrees.to(x.dtype) * (math.pi / 180)
    cos, sin = torch.cos(rad), torch.sin(rad)
    # affine_grid maps output to input positions in [-1, 1] coordinates, which
    # stretch a non-square image; the h/w factors keep the rotation rigid in pixels
    theta = torch.stack([torch.stack([cos, -sin * h / w, torch.zeros_like(cos)], -1),
                         torch.stack([sin * w / h, cos, torch.zeros_like(cos)], -1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(x: torch.Tensor, generator: torch.Generator, flip: bool = True,
            crop_padding: int = 0, rotation_degrees: float = 0.0,
            key: str = "curvature.augment") -> torch.Tensor:
    """A float batch (N, C, H, W) with, per image: a horizontal flip with chance 1/2
    (``flip``), a random crop of the reflect-padded image (``crop_padding`` > 0) and
    a rotation by an angle uniform in [-rotation_degrees, rotation_degrees] (> 0),
    in that order. All draws come from ``generator``; with all three off, ``x``
    itself is returned."""
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"augment needs a float batch (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) \
            or not 0 <= crop_padding < min(x.shape[-2:]):
        raise ConfigError(f"{key}.crop_padding: {crop_padding!r} must be an integer from 0 "
                          f"to less than the image side {min(x.shape[-2:])}")
    if not isinstance(rotation_degrees, (int, float)) or not 0 <= rotation_degrees <= 180:
        raise ConfigError(f"{key}.rotation_degrees: {rotation_degrees!r} must be in [0, 180]")
    n = x.shape[0]
    if flip:
        flipped = _uniform(n, generator, x.device) < 0.5
        x = torch.where(flipped[:, None, None, None], x.flip(-1), x)
    if crop_padding:
        x = _crop(x, crop_padding, generator)
    if rotation_degrees:
        x = _rotate(x, (2 * _uniform(n, generator, x.device) - 1) * rotation_degrees)
    return x
