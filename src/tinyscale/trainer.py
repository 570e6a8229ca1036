"""The training loop every study shares: :func:`fit`.

A study describes *what* to train as a :class:`Task` (its batches, its loss,
its evaluation, and whatever state it carries between steps); :func:`fit`
does the rest, the same way on every backend:

- the device side through a :class:`tinyscale.train.DeviceLoop` (CPU, CUDA,
  DDP under torchrun or srun) or ``tinyscale.xla.XlaLoop`` (MpDeviceLoader,
  ``xm.optimizer_step``);
- AdamW (or SGD with momentum) with warm-up then a constant, cosine or
  step lr, gradient accumulation, clipping, fp32 / bf16 autocast / fp16 with a
  gradient scaler (CUDA);
- an EMA of the weights (identical on every rank: DDP keeps the weights
  identical), which evaluation uses; optionally the weights of the best
  evaluation are kept and returned instead of the last (early stopping);
- resume: every ``checkpoint_every_s`` seconds and at each evaluation the
  full state (model, optimizer, scaler, EMA, RNG, step, the task's carried
  state, the metrics so far) is written atomically, one file per rank, keyed
  by a hash of the run's settings (:class:`Resume`); a rerun continues from
  it and ends exactly where an uninterrupted run would have;
- progress (a bar on a terminal, log lines in a rule's log), TensorBoard
  scalars (every metric and the lr) and, on XLA, its metrics report.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import torch
from torch import nn

from .checkpoint import load_state, save_state
from .errors import CheckpointError, ConfigError
from .progress import progress
from .train import DeviceLoop, lr_at_step

log = logging.getLogger("tinyscale")

STATE_FORMAT = "tinyscale-train-state"


@dataclass(frozen=True)
class Settings:
    """How to train: the optimizer, schedule and the loop's cadence (steps are optimizer steps)."""
    steps: int
    eval_every: int                      # steps between evaluations (the last step always evaluates)
    lr: float
    warmup_steps: int = 0
    lr_schedule: str = "constant"        # constant | cosine | step
    lr_min: float = 0.0
    lr_milestones: tuple[int, ...] = ()  # step: steps at which the lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    optimizer: str = "adamw"             # adamw | sgd
    momentum: float = 0.9                # sgd
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    keep_best: str | None = None         # an evaluation metric: return the weights where it was highest
    grad_clip: float | None = None       # max global gradient norm
    grad_accum: int = 1                  # micro-batches per optimizer step
    precision: str = "fp32"              # fp32 | bf16 | fp16 (CUDA)
    ema: float | None = None             # EMA decay of the weights evaluation uses; None = off
    checkpoint_every_s: float = 600.0
    xla_metrics_every: int = 1000        # steps between XLA metrics reports (XLA devices)

    def hashed(self) -> dict:
        """What changes the result (the cadence of checkpoints does not)."""
        d = asdict(self)
        d.pop("checkpoint_every_s")
        d.pop("xla_metrics_every")
        return d


class Task(Protocol):
    """What a study trains (see tinyscale.reasoning.training for one)."""

    def batches(self, start_step: int) -> Iterator[Any]:
        """This rank's host batches, ``grad_accum`` per optimizer step, from ``start_step`` on."""

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(this rank's mean loss over its micro-batch, a vector of summed metrics)."""

    def train_metrics(self, sums: list[float]) -> dict[str, float]:
        """The training metrics of the sums gathered over ranks since the last evaluation."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics of ``model`` (the weights evaluation uses, on the loop's eval device)."""

    def state_dict(self) -> dict:
        """What the task carries from step to step (on the CPU)."""

    def load_state_dict(self, state: dict) -> None: ...


class EMA:
    """An exponential moving average of a module's floating-point weights and buffers (fp32)."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in module.state_dict().items()
                       if v.is_floating_point()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """shadow = decay x shadow + (1 - decay) x weights."""
        for k, v in module.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach().float(), 1.0 - self.decay)

    def weights(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """``module``'s state dict with the averaged weights in place of its own."""
        return {k: self.shadow[k].to(v.dtype) if k in self.shadow else v
                for k, v in module.state_dict().items()}

    def state_dict(self) -> dict:
        return {k: v.cpu() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, v in self.shadow.items():
            v.copy_(state[k])


def settings_hash(run: dict) -> str:
    """A short hash of a run's settings (anything JSON can write)."""
    text = json.dumps(run, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


class Resume:
    """The saved state of a run: ``<directory>/<hash>.rank<r>.pt``, one per rank.

    A state saved under other settings (another hash, or another world size) is
    ignored with a log line; :meth:`clear` removes every state of the folder.
    """

    def __init__(self, directory: str | Path, run: dict, rank: int = 0, world_size: int = 1):
        self.directory = Path(directory)
        self.key = settings_hash({**run, "world_size": world_size})
        self.rank, self.world_size = rank, world_size
        self.path = self.directory / f"{self.key}.rank{rank}.pt"

    def load(self) -> dict | None:
        if not self.path.is_file():
            others = sorted(p.name for p in self.directory.glob("*.rank*.pt")) if self.directory.is_dir() else []
            if others and self.rank == 0:
                log.info("resume: ignoring saved state %s (other settings; this run's key is %s)",
                         ", ".join(others), self.key)
            return None
        try:
            state = load_state(self.path, STATE_FORMAT, "training state")
        except CheckpointError as err:
            log.warning("resume: %s; starting from step 0", err)
            return None
        return state

    def save(self, state: dict) -> None:
        save_state(self.path, STATE_FORMAT, state)

    def clear(self) -> None:
        for p in self.directory.glob("*.rank*.pt"):
            p.unlink(missing_ok=True)


@dataclass
class Result:
    weights: dict[str, torch.Tensor]      # the evaluated weights (EMA if on), on the CPU
    history: list[dict]                   # one row per evaluation
    resumed_from: int                     # the step this process started at
    seconds: float                        # training time, over every resumed part
    best_step: int | None = None          # keep_best: the step whose weights these are


def _autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def fit(task: Task, net: nn.Module, loop: DeviceLoop, settings: Settings, resume: Resume | None = None,
        tensorboard: str | Path | None = None, desc: str = "train",
        stop: Callable[[int], bool] | None = None,
        on_eval: Callable[[int, nn.Module], None] | None = None) -> Result:
    """Train ``net`` on ``task`` as ``settings`` say; returns the evaluated weights and the history.

    ``stop``, called after every optimizer step with the steps done, ends training there when
    it returns True, with no evaluation (timing runs use it; it must answer alike on every rank).
    ``on_eval`` is called after every evaluation with the step and the evaluated network (on
    every rank; a resumed run does not repeat the calls of the evaluations before its start).
    """
    s = settings
    if s.precision == "fp16" and loop.device.type != "cuda":
        raise ConfigError(f"precision 'fp16' needs a CUDA device (this run is on {loop.device.type}); "
                          "use bf16 or fp32")
    model = loop.prepare(net)
    opt = _optimizer(s, model.parameters())
    scaler = torch.amp.GradScaler("cuda") if s.precision == "fp16" else None
    ema = EMA(net, s.ema) if s.ema else None
    eval_net = copy.deepcopy(net).to(loop.eval_device).eval()   # the weights evaluation sees

    start, history, sums, seconds = 0, [], None, 0.0
    best = None                                  # keep_best: {"step", "value", "weights"} on the CPU
    state = resume.load() if resume else None
    if loop.world_size > 1 and not _same_everywhere(loop, state["step"] if state else -1):
        # a kill between two ranks' writes leaves states of different steps: start over
        log.warning("resume: the ranks' saved states are of different steps; starting from step 0")
        state = None
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if scaler is not None:
            scaler.load_state_dict(state["scaler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        loop.set_rng_state(state["rng"])
        task.load_state_dict(state["task"])
        start, history, sums = state["step"], state["history"], state["sums"].to(loop.device)
        seconds = state["seconds"]
        best = state.get("best") or None
        log.info("resume: continuing from step %d/%d (%s)", start, s.steps, resume.path)
    writer = _tensorboard(tensorboard, start) if tensorboard and loop.rank == 0 else None

    def save() -> None:
        resume.save(to_cpu({"step": step + 1, "model": net.state_dict(), "optimizer": opt.state_dict(),
                            "scaler": scaler.state_dict() if scaler else {},
                            "ema": ema.state_dict() if ema else {}, "rng": loop.rng_state(),
                            "task": task.state_dict(), "history": history, "sums": sums,
                            "seconds": seconds + time.monotonic() - t0, "best": best or {}}))

    batches = loop.feed(task.batches(start))
    last_save = t0 = time.monotonic()
    model.train()
    for step in progress(range(start, s.steps), desc, total=s.steps, start=start):
        lr = lr_at_step(step, s.steps, s.warmup_steps, s.lr, s.lr_schedule, s.lr_min, s.lr_milestones, s.lr_gamma)
        for group in opt.param_groups:
            group["lr"] = lr
        for micro in range(s.grad_accum):
            batch = next(batches)
            sync = micro == s.grad_accum - 1 or loop.world_size == 1 or not hasattr(model, "no_sync")
            with (nullcontext() if sync else model.no_sync()), _autocast(s.precision, loop.device):
                loss, step_sums = task.loss(model, batch)
            loss = loss / s.grad_accum
            (scaler.scale(loss) if scaler else loss).backward()
            sums = step_sums.detach() if sums is None else sums + step_sums.detach()
        if scaler:
            scaler.unscale_(opt)
        if s.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            loop.optimizer_step(opt)
        opt.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(net)
        loop.step_done()
        if stop is not None and stop(step + 1):
            break
        if (step + 1) % s.xla_metrics_every == 0:
            loop.log_device_metrics(step + 1)

        if (step + 1) % s.eval_every == 0 or step + 1 == s.steps:
            eval_net.load_state_dict(ema.weights(net) if ema else net.state_dict())   # copies across devices
            row = {"step": step + 1, "lr": lr,
                   **task.train_metrics([loop.sum(float(v)) for v in sums.cpu().tolist()]),
                   **task.evaluate(eval_net)}
            sums = torch.zeros_like(sums)
            history.append(row)
            if s.keep_best and (best is None or row[s.keep_best] > best["value"]):
                # a copy: on the CPU to_cpu returns eval_net's own tensors, which the next evaluation overwrites
                best = {"step": step + 1, "value": row[s.keep_best],
                        "weights": {k: v.detach().to("cpu", copy=True) for k, v in eval_net.state_dict().items()}}
            if on_eval is not None:
                on_eval(step + 1, eval_net)
            log.info("step %d/%d: %s", step + 1, s.steps,
                     ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step"))
            if writer:
                for k, v in row.items():
                    if k != "step":
                        writer.add_scalar(k, v, step + 1)
                writer.flush()
            if resume and step + 1 < s.steps:
                save()
                last_save = time.monotonic()
        elif resume and _all_agree(loop, time.monotonic() - last_save >= s.checkpoint_every_s):
            save()
            last_save = time.monotonic()
            log.info("resume: state saved at step %d", step + 1)
        if writer and (step + 1) % max(1, s.eval_every // 10) == 0:
            writer.add_scalar("lr", lr, step + 1)
    if writer:
        writer.close()
    if best is not None:
        return Result(best["weights"], history, start, seconds + time.monotonic() - t0, best["step"])
    final = to_cpu(ema.weights(net) if ema else net.state_dict())
    return Result(final, history, start, seconds + time.monotonic() - t0)


def _optimizer(s: Settings, params) -> torch.optim.Optimizer:
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=s.lr, betas=tuple(s.betas), weight_decay=s.weight_decay)
    raise ConfigError(f"optimizer {s.optimizer!r}: adamw or sgd")


def _same_everywhere(loop: DeviceLoop, value: int) -> bool:
    """Whether every rank holds ``value`` (all ranks reach the same answer)."""
    n, total, squares = loop.world_size, loop.sum(float(value)), loop.sum(float(value) ** 2)
    return total * total == n * squares     # equality in Cauchy-Schwarz: all values equal


def _all_agree(loop: DeviceLoop, flag: bool) -> bool:
    """Whether any rank says so (all ranks then save the same step)."""
    return loop.sum(float(flag)) > 0 if loop.world_size > 1 else flag


def _tensorboard(directory: str | Path, start: int):
    from torch.utils.tensorboard import SummaryWriter   # imports tensorboard: only when asked

    if not start:
        shutil.rmtree(directory, ignore_errors=True)     # a fresh run: no events of an older one
    # purge_step: events a killed run wrote after its last saved step are dropped
    return SummaryWriter(str(directory), purge_step=start or None)
