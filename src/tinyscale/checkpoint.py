"""Checkpoints: a state dict plus the model config, loadable without pickled code."""
from __future__ import annotations

from pathlib import Path

import torch

from .io import atomic_path
from .models import TRMConfig, TRMMLP

FORMAT = "tinyscale.trm_mlp/1"


class CheckpointError(ValueError):
    pass


def save_checkpoint(path: str | Path, model: TRMMLP, meta: dict | None = None) -> None:
    payload = {
        "format": FORMAT,
        "model_config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> TRMMLP:
    """The model of a checkpoint, in eval mode, taking flattened inputs in [0, 1].

    Loads with ``weights_only=True``: a checkpoint from elsewhere cannot run code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or broken files
        raise CheckpointError(f"{path}: not a loadable checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tinyscale TRM-MLP checkpoint (format {FORMAT!r} expected)")
    try:
        model = TRMMLP(TRMConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError, KeyError) as err:
        raise CheckpointError(f"{path}: checkpoint does not match the TRM-MLP ({err})") from err
    return model.to(device).eval()
