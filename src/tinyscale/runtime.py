"""Process-level facts: device choice, thread count, peak memory."""
from __future__ import annotations

import random
import resource
import sys

import numpy as np
import torch


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` takes the GPU when there is one; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{requested}' was requested but torch sees no CUDA GPU")
    return torch.device(requested)


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA allocation on a GPU, else the process's peak resident set."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux and in bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def device_kind(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).replace(" ", "_")
    return device.type
