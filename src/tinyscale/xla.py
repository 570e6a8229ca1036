"""Training on an XLA device (a TPU; the CPU under ``PJRT_DEVICE=CPU``).

Needs torch_xla, which lives in its own environment (``make tpu-setup``:
.venv-tpu, see envs/tpu.txt); nothing else in tinyscale imports this module.

:func:`launch` starts one process per XLA device with ``torch_xla.launch``
and calls ``fn(loop, *args)`` in each, where ``loop`` is an :class:`XlaLoop`
for the core's training loop (:func:`tinyscale.trainer.fit`): batches reach the
device through an ``MpDeviceLoader``, the optimizer steps with
``xm.optimizer_step`` (which all-reduces the gradients over the replicas) and
each step's graph runs at ``torch_xla.sync()``. Evaluation runs on the host
CPU, on a CPU copy of the weights: every replica evaluates the whole split, so
all take the same decisions. The log shows XLA's metrics (compilations,
executions, transfers) every ``xla_metrics_every`` steps.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import torch
import torch_xla
import torch_xla.core.xla_model as xm
import torch_xla.debug.metrics as met
import torch_xla.runtime as xr
from torch import nn
from torch.utils.data import IterableDataset
from torch_xla.distributed.parallel_loader import MpDeviceLoader

from .dist import SINGLE
from .progress import setup_logging
from .train import DeviceLoop

log = logging.getLogger("tinyscale")


class _Batches(IterableDataset):
    """An iterator of ready batches, as a DataLoader needs it (no workers, no collation)."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


class XlaLoop(DeviceLoop):
    """This replica's XLA device; the data and evaluation stay on the host CPU."""

    def __init__(self, seed: int | None = None):
        device = torch_xla.device()
        super().__init__(device, SINGLE)
        self.eval_device = torch.device("cpu")
        self.eval_world = SINGLE          # each replica evaluates everything on its host
        self._rank, self._world_size = xr.global_ordinal(), xr.world_size()
        if seed is not None:
            xm.set_rng_state(seed, device)  # the device's generator (PGD random starts)

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._world_size

    @property
    def is_main(self) -> bool:
        return self._rank == 0

    def prepare(self, net: nn.Module) -> nn.Module:
        return net.to(self.device)

    def feed(self, batches):
        # host batches reach the device through a loader thread that stays ahead
        return iter(MpDeviceLoader(_Batches(batches), self.device))

    def optimizer_step(self, opt: torch.optim.Optimizer) -> None:
        xm.optimizer_step(opt)   # all-reduces the gradients over the replicas, then steps

    def rng_state(self) -> dict:
        return {"cpu": torch.get_rng_state(), "xla": torch.tensor(xm.get_rng_state(self.device))}

    def set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["cpu"])
        xm.set_rng_state(int(state["xla"]), self.device)

    def log_device_metrics(self, step: int) -> None:
        """Seed 001's "XLA Metrics" lines: compilations, executions and transfers so far."""
        parts = []
        for name in ("CompileTime", "ExecuteTime", "TransferToDeviceTime", "TransferFromDeviceTime"):
            data = met.metric_data(name)
            if data:
                parts.append(f"{name} {int(data[0])} x, {data[1] / 1e9:.2f} s")
        log.info("XLA Metrics at step %d: %s", step, "; ".join(parts) or "none yet")

    def step_done(self) -> None:
        torch_xla.sync()

    def sum(self, value: float) -> float:
        if self._world_size == 1:
            return value
        return float(xm.mesh_reduce("tinyscale.sum", float(value), sum))

    def extra_metrics(self) -> dict:
        return {"xla": xla_info(self.device)}


def xla_info(device: torch.device) -> dict:
    """What ran the training: device, its hardware kind, graph compilations and executions."""
    compiles = met.metric_data("CompileTime")
    executes = met.metric_data("ExecuteTime")
    return {"device": str(device), "device_hw": xm.xla_device_hw(device),
            "world_size": xr.world_size(), "torch_xla": torch_xla.__version__,
            "compilations": int(compiles[0]) if compiles else 0,
            "executions": int(executes[0]) if executes else 0}


def _replica(index: int, fn: Callable[..., Any], seed: int | None, threads: int | None,
             args: tuple) -> None:
    setup_logging()   # a spawned process starts with no logging configured
    if threads:
        torch.set_num_threads(threads)
    loop = XlaLoop(seed)
    log.info("XLA replica %d/%d on %s (%s), torch_xla %s", loop.rank, loop.world_size,
             loop.device, xm.xla_device_hw(loop.device), torch_xla.__version__)
    fn(loop, *args)


def launch(fn: Callable[..., Any], *args: Any, seed: int | None = None,
           threads: int | None = None) -> None:
    """Run ``fn(loop, *args)`` in one process per XLA device (``torch_xla.launch``).

    ``fn`` must be picklable (a module-level function); the XLA device must
    not have been touched in this process before.
    """
    torch_xla.launch(_replica, args=(fn, seed, threads, args))
