"""Process-level facts: thread count, peak memory, device names."""
from __future__ import annotations

import resource
import sys

import torch


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)


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
