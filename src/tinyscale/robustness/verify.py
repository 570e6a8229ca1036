"""Robustness verification of one (model, method, eps) cell.

Verdict of a sample, in this order:

- ``misclassified``: wrong at eps = 0 (neither verified nor falsified);
- ``falsified``: PGD found a point in the clipped eps box whose prediction
  differs from the label, re-checked on a fresh forward pass;
- ``verified``: the certified lower bound of every margin
  ``logit_true - logit_j`` (a C-matrix specification) is > 0 over the box;
- ``timeout``: the per-sample budget of its batch ran out before a bound;
- ``unknown``: none of the above.

Work is shared instead of repeated: the attack of a (model, eps) pair runs
once for all methods (its own target), samples the attack falsifies are
never bounded, and alpha-CROWN only optimises samples that CROWN left
undecided (CROWN's certificate already verifies the others; alpha-CROWN
starts from CROWN's relaxation and keeps its best bound, so it could only
tighten it). Bounds are computed in batches through one bounded module.
"""
from __future__ import annotations

import logging
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attack import box, margin, pgd
from ..io import load_npz
from .lirpa_compat import import_auto_lirpa
from ..progress import progress

log = logging.getLogger("tinyscale")

# file-name key -> (auto_LiRPA method, name in tables)
METHODS = {
    "ibp": ("IBP", "IBP"),
    "crown": ("CROWN", "CROWN"),
    "alpha-crown": ("CROWN-Optimized", "alpha-CROWN"),
}
METHOD_ORDER = [name for _, name in METHODS.values()]  # loosest to tightest: IBP, CROWN, alpha-CROWN
VERDICTS = ("verified", "falsified", "unknown", "timeout", "misclassified")


def margin_spec(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C matrix (batch, K-1, K) whose rows are e_y - e_j for every j != y."""
    eye = torch.eye(num_classes, dtype=torch.float32, device=y.device)
    rows = eye[y][:, None, :] - eye[None, :, :]                       # (B, K, K)
    keep = torch.ones(len(y), num_classes, dtype=torch.bool, device=y.device)
    keep[torch.arange(len(y)), y] = False
    return rows[keep].view(len(y), num_classes - 1, num_classes)


# ---------------------------------------------------------------- attack

@dataclass
class AttackResult:
    prediction: np.ndarray     # clean prediction
    attack_margin: np.ndarray  # lowest margin found (the clean margin if misclassified)
    falsified: np.ndarray      # bool: a re-checked counterexample exists in the box
    x_adv: np.ndarray          # that point (the clean input where none was searched)
    seconds: np.ndarray        # attack time per sample (its batch's time / batch size)

    def save_arrays(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_npz(cls, path) -> "AttackResult":
        """The arrays of an attack file; a broken one is a DataError naming it."""
        return cls(**load_npz(path, [f.name for f in fields(cls)]))

    @classmethod
    def merge(cls, parts: list[tuple[np.ndarray, "AttackResult"]]) -> "AttackResult":
        """One result from (rows computed, result) pairs of several processes."""
        merged = cls(**{f.name: getattr(parts[0][1], f.name).copy() for f in fields(cls)})
        for rows, part in parts:
            for f in fields(cls):
                getattr(merged, f.name)[rows] = getattr(part, f.name)[rows]
        return merged


def batches_of(indices: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches of ``indices``. Batches, not samples, are what ranks
    share out, so every sample is computed in the same batch whatever the
    number of processes (a batch's neighbours can nudge alpha-CROWN's optimiser)."""
    return [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]


def samples_in(batches: list[np.ndarray]) -> np.ndarray:
    """The sample indices of some batches, as one array (empty if none)."""
    return np.concatenate(batches) if batches else np.array([], dtype=np.int64)


def attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, cfg: dict,
           seed: int, sample_ids: np.ndarray, batch_size: int,
           batches: list[np.ndarray] | None = None) -> AttackResult:
    """PGD on every correctly classified sample, in batches.

    Each sample's random starts are seeded by ``seed`` and its id, so a sample
    gets the same attack whatever batch or process it is in. ``batches``: the
    ones this process computes (a rank's shard of ``batches_of``; default all);
    rows of the others keep placeholder values, for :meth:`AttackResult.merge`.
    """
    n = len(x)
    pred = np.zeros(n, np.int64)
    best = np.zeros(n, np.float32)
    seconds = np.zeros(n, np.float64)
    x_adv = x.clone()
    if batches is None:
        batches = batches_of(np.arange(n), batch_size)
    for rows in progress(batches, f"attack eps={eps:g}"):
        t0 = time.perf_counter()
        idx = torch.from_numpy(rows).to(x.device)
        xb, yb = x[idx], y[idx]
        with torch.no_grad():
            logits = model(xb)
        pred[rows] = logits.argmax(1).cpu().numpy()
        best[rows] = margin(logits, yb).cpu().numpy()
        right = logits.argmax(1) == yb
        if right.any() and eps > 0:
            ids = [seed * 1_000_003 + int(s) for s in sample_ids[rows][right.cpu().numpy()]]
            res = pgd(model, xb[right], yb[right], eps, cfg["steps"], cfg["step_size"] * eps,
                      restarts=cfg["restarts"], seeds=ids)
            x_adv[idx[right]] = res.x_best
            best[rows[right.cpu().numpy()]] = res.best_margin.cpu().numpy()
        seconds[rows] = (time.perf_counter() - t0) / len(rows)
    falsified = recheck(model, x, y, x_adv, eps) & (pred == y.cpu().numpy())
    return AttackResult(pred, best, falsified, x_adv.cpu().numpy(), seconds)


def recheck(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor,
            eps: float) -> np.ndarray:
    """True where ``x_adv`` lies in the clipped box and its prediction differs from ``y``."""
    lo, hi = box(x, eps)
    with torch.no_grad():
        changed = model(x_adv).argmax(1) != y
    inside = ((x_adv >= lo) & (x_adv <= hi)).flatten(1).all(1)
    return (changed & inside).cpu().numpy()


# ---------------------------------------------------------------- bounds

class BoundTimeout(Exception):
    pass


@contextmanager
def deadline(seconds: float | None):
    """Raise BoundTimeout in this (main) thread after ``seconds`` of wall time."""
    if not seconds or seconds <= 0:
        yield
        return

    def _expire(signum, frame):
        raise BoundTimeout()

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Bounder:
    """One auto_LiRPA bounded module of a model, reused for every batch."""

    def __init__(self, model: nn.Module, input_dim: int, method: str, alpha_opts: dict | None = None,
                 device: torch.device | str = "cpu"):
        import_auto_lirpa()
        from auto_LiRPA import BoundedModule

        self.method = method
        self.lirpa_method = METHODS[method][0]
        opts = {"sparse_features_alpha": False, "sparse_spec_alpha": False}  # 0.3's sparse alphas crash on this model
        if method == "alpha-crown":
            a = alpha_opts or {}
            opts["optimize_bound_args"] = {
                "iteration": a.get("iterations", 20),
                "lr_alpha": a.get("lr", 0.5),
                # a sample whose every margin is already certified stops optimising,
                # and leaves the batch (same bounds for the others, less work)
                "stop_criterion_func": lambda lb: (lb > 0).all(dim=1, keepdim=True),
                "pruning_in_iteration": True,
            }
        self.num_classes = model(torch.zeros(1, input_dim, device=device)).shape[1]
        self.module = BoundedModule(model, torch.zeros(1, input_dim, device=device),
                                    bound_opts=opts, device=str(device), verbose=False)

    def worst_margin_lower_bound(self, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        """Certified lower bound of min_j (logit_y - logit_j) over the clipped box, per sample."""
        from auto_LiRPA import BoundedTensor
        from auto_LiRPA.perturbations import PerturbationLpNorm

        lo, hi = box(x, eps)
        bx = BoundedTensor(x, PerturbationLpNorm(norm=float("inf"), x_L=lo, x_U=hi))
        spec = margin_spec(y, self.num_classes)
        if self.method == "alpha-crown":
            lb, _ = self.module.compute_bounds(x=(bx,), C=spec, method=self.lirpa_method,
                                               bound_upper=False)
        else:
            with torch.no_grad():
                lb, _ = self.module.compute_bounds(x=(bx,), C=spec, method=self.lirpa_method,
                                                   bound_upper=False)
        return lb.detach().min(dim=1).values


# ---------------------------------------------------------------- a cell

def plan_cell(x: torch.Tensor, y: torch.Tensor, atk: AttackResult,
              crown_rows: pd.DataFrame | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of a cell with every verdict that needs no bound, and the
    samples still to bound.

    ``crown_rows``: the CROWN cell of the same model and eps, given to the
    alpha-CROWN cell so that CROWN-verified samples are not optimised again.
    """
    labels = y.cpu().numpy()
    rows = pd.DataFrame({
        "sample": np.arange(len(x)), "label": labels, "prediction": atk.prediction,
        "verdict": "unknown", "lower_bound": np.nan, "attack_margin": atk.attack_margin,
        "seconds": atk.seconds.copy(), "bound_source": "",
    })
    rows.loc[atk.prediction != labels, "verdict"] = "misclassified"
    rows.loc[atk.falsified, "verdict"] = "falsified"
    todo = np.flatnonzero(rows["verdict"].to_numpy() == "unknown")
    if crown_rows is not None:
        reuse = todo[crown_rows["verdict"].to_numpy()[todo] == "verified"]
        rows.loc[reuse, ["verdict", "lower_bound", "seconds"]] = \
            crown_rows.loc[reuse, ["verdict", "lower_bound", "seconds"]].to_numpy()
        rows.loc[reuse, "bound_source"] = METHODS["crown"][1]
        todo = np.setdiff1d(todo, reuse)
    return rows, todo


def bound_batches(bounder: Bounder | None, x: torch.Tensor, y: torch.Tensor, eps: float,
                  rows: pd.DataFrame, batches: list[np.ndarray], timeout_s: float | None) -> None:
    """Bound ``batches`` of samples and write their verdicts into ``rows``.

    With no batches there is nothing to bound and ``bounder`` is not touched
    (it may be None: callers need not build a bounded module for nothing).
    """
    if not batches:
        return
    name = METHODS[bounder.method][1]
    for batch in progress(batches, f"{name} eps={eps:g}"):
        idx = torch.from_numpy(batch).to(x.device)
        t0 = time.perf_counter()
        try:
            with deadline(timeout_s * len(batch) if timeout_s else None):
                lb = bounder.worst_margin_lower_bound(x[idx], y[idx], eps).cpu().numpy()
        except BoundTimeout:
            lb = None
            rows.loc[batch, "verdict"] = "timeout"
            log.warning("%s eps=%g: a batch of %d samples ran out of its %.0f s budget",
                        name, eps, len(batch), timeout_s * len(batch))
        rows.loc[batch, "seconds"] += (time.perf_counter() - t0) / len(batch)
        if lb is not None:
            rows.loc[batch, "lower_bound"] = lb
            rows.loc[batch, "verdict"] = np.where(lb > 0, "verified", "unknown")
            rows.loc[batch, "bound_source"] = name


def run_cell(bounder: Bounder | None, x: torch.Tensor, y: torch.Tensor, eps: float, atk: AttackResult,
             batch_size: int, timeout_s: float | None, crown_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (see plan_cell) of one cell, in sample order, all computed in this process.

    ``bounder`` may be None when no sample is left to bound (every one
    misclassified, falsified, or verified by ``crown_rows``).
    """
    rows, todo = plan_cell(x, y, atk, crown_rows)
    bound_batches(bounder, x, y, eps, rows, batches_of(todo, batch_size), timeout_s)
    return rows


def summarize(rows: pd.DataFrame) -> dict:
    """Verdict counts and mean time of one cell's rows."""
    counts = rows["verdict"].value_counts()
    out = {v: int(counts.get(v, 0)) for v in VERDICTS}
    out["total"] = len(rows)
    out["avg_time_s"] = float(rows["seconds"].mean()) if len(rows) else 0.0
    return out
