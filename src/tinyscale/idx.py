"""MNIST's IDX format: a big-endian header (0, 0, type code, ndim, then one uint32
per dimension) followed by the array, big-endian, row-major; optionally gzipped."""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}



def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(f"{path}: corrupt gzip stream ({err})") from err
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in one IDX file (plain or gzipped), in native byte order."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic {raw[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: header declares {ndim} dimensions but the file is {len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: shape {shape} needs {expected} data bytes, found {actual}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx_file(folder: str | Path, stem: str) -> Path:
    """``stem`` (or its ``.idx`` spelling, e.g. train-images.idx3-ubyte), plain or ``.gz``."""
    folder = Path(folder)
    dotted = stem.replace("-idx", ".idx", 1)
    candidates = [folder / n for s in dict.fromkeys([stem, dotted]) for n in (s, s + ".gz")]
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(f"{folder}: none of {', '.join(c.name for c in candidates)} found")


def load_mnist(folder: str | Path) -> dict[str, np.ndarray]:
    """The four MNIST files of ``folder`` as x_train, y_train, x_test, y_test (uint8)."""
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        xp = find_idx_file(folder, f"{prefix}-images-idx3-ubyte")
        yp = find_idx_file(folder, f"{prefix}-labels-idx1-ubyte")
        x, y = read_idx(xp), read_idx(yp)
        if x.ndim != 3 or x.dtype != np.uint8:
            raise DataError(f"{xp}: images must be a 3-D uint8 array, found {x.ndim}-D {x.dtype}")
        if y.ndim != 1 or y.dtype != np.uint8:
            raise DataError(f"{yp}: labels must be a 1-D uint8 array, found {y.ndim}-D {y.dtype}")
        if len(x) != len(y):
            raise DataError(f"{yp}: {len(y)} labels for {len(x)} images in {xp}")
        bad = np.flatnonzero(y > 9)
        if len(bad):
            raise DataError(f"{yp}: label {int(y[bad[0]])} at index {int(bad[0])} is not a digit 0..9")
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out
