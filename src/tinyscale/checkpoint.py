"""The checkpoint format every study shares: a dict of tensors and plain values,
tagged with a format name, written atomically and loaded with
``weights_only=True`` (a checkpoint from elsewhere cannot run code)."""
from __future__ import annotations

from pathlib import Path

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
    except Exception as err:  # torch raises several types for foreign or broken files
        raise CheckpointError(f"{path}: not a loadable checkpoint ({err})") from err


def load_state(path: str | Path, fmt: str, what: str) -> dict:
    """The payload of the ``fmt`` checkpoint ``path`` (``what`` names the kind in errors), on the CPU."""
    payload = load_file(path)
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path}: not a tinyscale {what} checkpoint (format {fmt!r} expected)")
    return payload
