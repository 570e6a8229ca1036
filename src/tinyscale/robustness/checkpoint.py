"""TRM-MLP checkpoints: a state dict plus the model config (the core's format)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..checkpoint import load_state, save_state
from ..errors import CheckpointError
from .models import TRMConfig, TRMMLP

FORMAT = "tinyscale.trm_mlp/1"


def save_checkpoint(path: str | Path, model: TRMMLP, meta: dict | None = None) -> None:
    save_state(path, FORMAT, {
        "model_config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    })


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> TRMMLP:
    """The model of a checkpoint, in eval mode, taking flattened inputs in [0, 1]."""
    payload = load_state(path, FORMAT, "TRM-MLP")
    try:
        model = TRMMLP(TRMConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError, KeyError) as err:
        raise CheckpointError(f"{path}: checkpoint does not match the TRM-MLP ({err})") from err
    return model.to(device).eval()


def model_and_samples(args: argparse.Namespace):
    """Join the launcher's process group (if any), set threads, and load
    ``--checkpoint`` and ``--samples`` onto this rank's device.

    Returns (world, model, x, y).
    """
    from .. import dist, runtime
    from .data import load_samples

    runtime.set_threads(args.threads)
    world = dist.init(args.device)
    model = load_checkpoint(args.checkpoint, world.device)
    x, y, _ = load_samples(args.samples)
    return world, model, x.to(world.device), y.to(world.device)
