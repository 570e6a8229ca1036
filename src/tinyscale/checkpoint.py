"""The checkpoint format every study shares: a dict of tensors and plain values,
tagged with a format name, written atomically and loaded with
``weights_only=True`` (a checkpoint from elsewhere cannot run code)."""
from __future__ import annotations

from pathlib import Path

import pickle
import re

import torch

from .errors import CheckpointError
from .io import atomic_path


def save_state(path: str | Path, fmt: str, payload: dict) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists and dicts of them) as a ``fmt`` checkpoint."""
    with atomic_path(path) as tmp:
        torch.save({"format": fmt, **payload}, tmp)


def load_file(path: str | Path):
    """What the checkpoint file ``path`` holds, loaded with weights_only on the CPU; one error naming
    the file when it is missing or not loadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refused a pickled object (torch's message is a page of advice; the object is what matters)
        found = re.search(r"unsupported GLOBAL (\S+)", str(err), re.IGNORECASE)
        what = f"a pickled {found.group(1)}" if found else "a pickled object that is not a tensor"
        raise CheckpointError(f"{path}: holds {what}; not loaded (checkpoints load with weights_only=True, "
                              "which runs no code from the file)") from err
    except Exception as err:  # torch raises several types for foreign or broken files
        first = str(err).strip().split(". ")[0].rstrip(".")     # torch's first sentence; advice follows
        raise CheckpointError(f"{path}: not a loadable checkpoint, truncated or not torch's format ({first})") from err


def load_state(path: str | Path, fmt: str, what: str) -> dict:
    """The payload of the ``fmt`` checkpoint ``path`` (``what`` names the kind in errors), on the CPU."""
    payload = load_file(path)
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path}: not a tinyscale {what} checkpoint (format {fmt!r} expected)")
    return payload
