"""The seeds of one grid point trained together in one process: their weights stacked, one
``torch.func.vmap`` over (weights, batch, labels, noise) a step.

Each seed is the run :func:`tinyscale.ssvae.run.train_point` would make of it alone:

- its initial weights are :func:`run.init_model`'s (drawn from the seed alone);
- its batches, labelled set and noise come from its own :class:`PointTraining` (the same
  shuffles, the same generator), so its draws are those of a lone run of it;
- its loss is the lone run's, computed by ``torch.func.functional_call`` under ``vmap``; the
  stack's loss is the sum of the seeds', so each seed's gradient is its own;
- AdamW (no decay) on the stacked tensors is elementwise, hence equal to one optimizer a seed,
  with the lr, steps and evaluations of :func:`training.settings`.

The weights then equal a lone run's up to float rounding, not bitwise: vmap batches the matmuls
(other kernels, other summation orders). On the digits with a tiny model the largest difference
was 2e-6 of a tensor's largest magnitude after 2 epochs, and grows as training amplifies it
(3e-4 after 10 epochs; equal test accuracies). Under the balanced scheme every seed's batch of a
step is of the same kind and size (n_labels is shared, so the epoch's plan is); under
``seed_per_batch`` a step's seeds may differ in kind, and are then stepped in two vmaps (the
supervised seeds and the others) that each take their rows of the stacked weights.

Resume as the core loop does it (:class:`tinyscale.trainer.Resume`): the stack's state (weights,
optimizer, every seed's noise generator, histories, sums) is saved every ``checkpoint_every_s``
seconds and at each evaluation, one file keyed by the settings, the point and the seeds. Single
process (no DDP): the stack is the parallelism.
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Callable, Sequence

import torch
from torch.func import functional_call, stack_module_state, vmap

from ..errors import ConfigError
from ..progress import progress
from ..train import lr_at_step
from ..trainer import Resume, to_cpu
from .data import Pixels
from .model import Noise, objective
from .run import init_model, labelled_for, point_record
from .training import PointTraining, settings

log = logging.getLogger("tinyscale")


class Stopped(Exception):
    """Training was ended early by ``stop`` (the state saved when there is a state folder)."""

    def __init__(self, step: int):
        super().__init__(f"stopped after step {step}")
        self.step = step


def train_stacked(data: Pixels, block: dict, n_labels: int, corruption: float, alpha: float,
                  seeds: Sequence[int], device: torch.device | str, state_dir: str | None = None, *,
                  stop: Callable[[int], bool] | None = None) -> list[dict]:
    """Train grid point (n_labels, corruption, alpha) for every seed of ``seeds`` together on
    ``device`` with the ssvae block's settings; returns one metrics record a seed (in the order of
    ``seeds``), as :func:`train_point` makes it. ``seconds`` is the stack's training time (shared
    by its records) and ``images_per_s`` the stack's: every seed's images over those seconds.

    ``stop``, called after every optimizer step (and its evaluation and saved state) with the
    steps done, ends the call there when it returns True: the state is saved (with a
    ``state_dir``) and :class:`Stopped` is raised; a later call with the same folder resumes.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"ssvae: stacked seeds {seeds}: one or more seeds, each once")
    device = torch.device(device)
    data = data.to(device)
    t, m = block["training"], block["model"]
    labelled = [labelled_for(data, n_labels, corruption, s) for s in seeds]
    tasks = [PointTraining(data, lab, t, m, alpha, corruption, s) for lab, s in zip(labelled, seeds)]
    steps_per_epoch = tasks[0].steps_per_epoch
    st = settings(t, steps_per_epoch)
    nets = [init_model(m, data, s).to(device) for s in seeds]
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")            # the structure functional_call runs
    opt = torch.optim.AdamW(list(params.values()), lr=st.lr, betas=tuple(st.betas), weight_decay=st.weight_decay)
    n_seeds = len(seeds)
    losses = {kind: vmap(_seed_loss(base, float(alpha), kind)) for kind in (False, True)}

    resume = None
    if state_dir:
        resume = Resume(state_dir, {"settings": st.hashed(), "model": m, "data": block["data"], "training": t,
                                    "point": [n_labels, corruption, alpha], "seeds": seeds,
                                    "device": device.type, "stacked": True})
    start, histories, seconds = 0, [[] for _ in seeds], 0.0
    sums = torch.zeros(n_seeds, 5, device=device)
    state = resume.load() if resume else None
    if state is not None:
        with torch.no_grad():
            for k, v in params.items():
                v.copy_(state["params"][k])
        opt.load_state_dict(state["optimizer"])
        for task, s in zip(tasks, state["tasks"]):
            task.load_state_dict(s)
        start, histories, seconds = state["step"], state["history"], state["seconds"]
        sums = state["sums"].to(device)
        log.info("resume: continuing from step %d/%d (%s)", start, st.steps, resume.path)

    def save(done: int) -> None:
        resume.save(to_cpu({"step": done, "params": {k: v.detach() for k, v in params.items()},
                            "optimizer": opt.state_dict(), "tasks": [task.state_dict() for task in tasks],
                            "history": histories, "sums": sums, "seconds": seconds + time.monotonic() - t0}))

    eval_nets = [copy.deepcopy(net).eval() for net in nets]
    feeds = [task.batches(start) for task in tasks]
    desc = f"n={n_labels} c={corruption} a={alpha} seeds={','.join(map(str, seeds))}"
    t_wall = last_save = t0 = time.monotonic()
    for step in progress(range(start, st.steps), desc, total=st.steps, start=start):
        lr = lr_at_step(step, st.steps, st.warmup_steps, st.lr, st.lr_schedule, st.lr_min, st.lr_milestones,
                        st.lr_gamma)
        for group in opt.param_groups:
            group["lr"] = lr
        batches = [next(f) for f in feeds]
        # every seed's noise from its own generator, as its lone run draws it
        noise = [Noise.draw(task.k, len(idx), data.n_classes, task.style_dim, task.noise, device)
                 for task, (idx, _) in zip(tasks, batches)]
        kinds = [labels.numel() > 0 for _, labels in batches]
        total = torch.zeros((), device=device)
        step_sums = torch.zeros(n_seeds, 5, device=device)
        for kind in (False, True):
            rows = [i for i, k in enumerate(kinds) if k == kind]
            if not rows:
                continue
            idx = _stack([batches[i][0] for i in rows], "batch")
            x = data.train_x[idx]
            u = torch.stack([noise[i].uniform for i in rows])
            e = torch.stack([noise[i].normal for i in rows])
            p, b = params, buffers
            if len(rows) < n_seeds:
                pick = torch.tensor(rows, device=device)
                p = {k: v.index_select(0, pick) for k, v in params.items()}
                b = {k: v.index_select(0, pick) for k, v in buffers.items()}
            args = (x, u, e, _stack([batches[i][1] for i in rows], "labels")) if kind else (x, u, e)
            loss, elbo_sum, log_q_sum = losses[kind](p, b, *args)
            total = total + loss.sum()
            n = torch.full_like(loss, float(idx.shape[1]))
            zero = torch.zeros_like(loss)
            step_sums[rows] = torch.stack([loss.detach() * n, elbo_sum.detach(), n,
                                           log_q_sum.detach() if kind else zero, n if kind else zero], 1)
        total.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sums += step_sums

        done = step + 1
        if done % st.eval_every == 0 or done == st.steps:
            for i, (task, net) in enumerate(zip(tasks, eval_nets)):
                net.load_state_dict({**{k: v[i] for k, v in params.items()}, **{k: v[i] for k, v in buffers.items()}})
                histories[i].append({"step": done, "lr": lr, **task.train_metrics(sums[i].cpu().tolist()),
                                     **task.evaluate(net)})
            sums.zero_()
            log.info("step %d/%d: test accuracy %s", done, st.steps,
                     ", ".join(f"{h[-1]['test_accuracy']:.4g}" for h in histories))
            if resume and done < st.steps:
                save(done)
                last_save = time.monotonic()
        elif resume and time.monotonic() - last_save >= st.checkpoint_every_s:
            save(done)
            last_save = time.monotonic()
            log.info("resume: state saved at step %d", done)
        if stop is not None and done < st.steps and stop(done):
            if resume:
                save(done)
            raise Stopped(done)
    seconds += time.monotonic() - t0

    records = []
    for i, seed in enumerate(seeds):
        net = eval_nets[i]
        net.load_state_dict({**{k: v[i].detach() for k, v in params.items()},
                             **{k: v[i] for k, v in buffers.items()}})
        record = point_record(net, data, block, (n_labels, corruption, alpha, seed), labelled[i], histories[i],
                              steps_per_epoch, device, 1)
        record.update(seconds=seconds, resumed_from_step=start,
                      images_per_s=n_seeds * len(data.train_y) * t["epochs"] / max(seconds, 1e-9),
                      wall_seconds=time.monotonic() - t_wall, stacked_seeds=seeds)
        records.append(record)
    if resume:
        resume.clear()
    return records


def _seed_loss(base: torch.nn.Module, alpha: float, supervised: bool):
    """One seed's (loss, summed ELBO, summed log q(y | x)) as a function of its weights, batch and
    noise (and labels on a supervised batch): the lone run's loss, for vmap."""
    def loss(params, buffers, x, uniform, normal, labels=None):
        elbo, log_q = functional_call(base, (params, buffers), (x, Noise(uniform, normal), labels))
        return objective(elbo, log_q, alpha, supervised), elbo.sum(), log_q.sum()
    return loss


def _stack(tensors: list[torch.Tensor], what: str) -> torch.Tensor:
    if len({len(t) for t in tensors}) > 1:
        raise RuntimeError(f"stacked seeds: a step's {what} differ in size ({[len(t) for t in tensors]})")
    return torch.stack(tensors)
