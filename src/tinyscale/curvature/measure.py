"""Per-image curvature of the loss in the input, from finite-difference Hessian probes.

For an image x with label y and loss L (cross entropy of this image alone), and
``niter`` Rademacher probes r_k (entries +-1, the shape of x), v_k = h r_k:

    g_k             = grad_x L(x + v_k) - grad_x L(x)        (~ H v_k, H the input Hessian)
    curvature       = mean_k ||g_k||          (form "norm")  or  mean_k ||g_k||^2  (form "squared")
    directional_eig = mean_k <v_k, g_k>       (~ h^2 r'Hr: a Hutchinson estimate of h^2 tr H)

plus the clean loss L(x). The model is used in eval mode (BatchNorm on its
running statistics), so images do not interact, and every image's probes come
from its own generator seeded by (probe seed, global image index): a value
depends on neither the batch it was computed in nor the rank that computed it.

One batch costs one forward and one backward of (niter + 1) x B rows: the clean
images and all their probes stacked, the per-sample losses summed (each row's
input gradient is then its own loss's gradient), one ``torch.autograd.grad``
with respect to the stacked input only (parameters get no ``.grad``).

Batch size: on a GPU large batches pay; on a CPU small ones (8-16 images,
so 88-176 rows) were fastest in bench/curvature.py: larger stacks leave the
caches. In float32 the difference of gradients loses digits: against float64,
curvature agreed to ~1e-4 but directional_eig of images where it is near 0 to
only ~1e-2 (relative) in that bench's net; use a float64 model when that matters.

``seed_compatible=True`` reproduces the original code's form for comparison:
all logits (``active`` ignored) and the batch-mean loss, which scales every
value by 1/B (1/B^2 for the squared form) and so makes it depend on the batch size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..progress import progress

# The multiplier of the probe seed in an image's generator seed: image i of probe
# seed s draws from manual_seed(s * SEED_STRIDE + i) (a prime above any data set's size).
SEED_STRIDE = 1_000_003
FORMS = ("norm", "squared")


@dataclass(frozen=True)
class Probe:
    """Settings of the finite-difference probes."""
    h: float = 1e-3
    niter: int = 10
    seed: int = 0
    form: str = "norm"            # norm: mean_k ||g_k|| | squared: mean_k ||g_k||^2
    seed_compatible: bool = False  # all logits and batch-mean loss, as the original code

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, not {self.form!r}")
        if self.niter < 1 or not self.h > 0:
            raise ValueError(f"need niter >= 1 and h > 0, got niter={self.niter}, h={self.h}")


def probes(indices: torch.Tensor, shape, probe: Probe) -> torch.Tensor:
    """Rademacher probes, (niter, B, *shape) of +-1 as float32 on the CPU.

    Image ``indices[b]`` (its global index in the data set) gets its niter
    probes from ``torch.Generator().manual_seed(probe.seed * SEED_STRIDE + index)``.
    """
    shape = tuple(shape)
    out = []
    for i in torch.as_tensor(indices).reshape(-1).tolist():
        gen = torch.Generator().manual_seed(probe.seed * SEED_STRIDE + int(i))
        out.append(torch.randint(0, 2, (probe.niter, *shape), generator=gen))
    if not out:
        return torch.empty((probe.niter, 0, *shape))
    return (torch.stack(out, 1) * 2 - 1).to(torch.float32)


def active_targets(y: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """The position of every label in ``active``; ValueError if one is not there."""
    hit = y.reshape(-1, 1) == active.reshape(1, -1).to(y.device)
    missing = ~hit.any(1)
    if missing.any():
        bad = sorted(set(y[missing].tolist()))
        raise ValueError(f"labels {bad} are not among the active classes")
    return hit.int().argmax(1)


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, active: torch.Tensor | None,
                    seed_compatible: bool) -> torch.Tensor:
    """Cross entropy of every row: over the active classes' logits, or all (seed form)."""
    if seed_compatible or active is None:
        return F.cross_entropy(logits, y, reduction="none")
    return F.cross_entropy(logits[:, active.to(logits.device)], active_targets(y, active), reduction="none")


def curvature_batch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor,
                    active: torch.Tensor | None, probe: Probe = Probe()) -> dict[str, torch.Tensor]:
    """curvature, directional_eig and loss of a batch, each (B,) on the CPU in the model's dtype.

    ``x`` (B, *shape), ``y`` (B,) and ``indices`` (B,) the images' global
    indices (they seed the probes). ``active``: 1-D class ids whose logits the
    loss uses (every label must be one); None: all classes. The model should
    be in eval mode; x is moved to the model's device and dtype.
    """
    param = next(model.parameters())
    dtype, device = param.dtype, param.device
    x = x.to(device, dtype)
    y = y.to(device)
    b, k = x.shape[0], probe.niter
    if active is not None and not probe.seed_compatible:
        active = torch.as_tensor(active, dtype=torch.long).reshape(-1)
        active_targets(y, active)    # the check, before any work
    v = probes(indices, x.shape[1:], probe).to(device, dtype) * probe.h        # (k, B, *shape)
    with torch.enable_grad():   # works when the caller is under no_grad: only the input needs grad
        stacked = torch.cat([x, (x.unsqueeze(0) + v).reshape(k * b, *x.shape[1:])]).requires_grad_(True)
        losses = per_sample_loss(model(stacked), y.repeat(k + 1), active, probe.seed_compatible)
        # sum: each row's gradient is its own loss's (the seed's mean: each of its k + 1 forward batches / B)
        total = losses.sum() / b if probe.seed_compatible else losses.sum()
        (grad,) = torch.autograd.grad(total, stacked)
    grad = grad.reshape(k + 1, b, -1)
    g = grad[1:] - grad[:1]                                                     # (k, B, D)
    norms = g.norm(dim=2)
    curvature = (norms if probe.form == "norm" else norms ** 2).mean(0)
    eig = (v.reshape(k, b, -1) * g).sum(2).mean(0)
    return {"curvature": curvature.detach().cpu(), "directional_eig": eig.detach().cpu(),
            "loss": losses[:b].detach().cpu()}


def curvature_all(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, indices,
                  active: torch.Tensor | None, probe: Probe = Probe(), batch_size: int = 256,
                  device: torch.device | str = "cpu", progress_desc: str | None = None) -> dict[str, np.ndarray]:
    """:func:`curvature_batch` over a data set in consecutive batches; float64 arrays in input order.

    ``images``/``labels`` stay where they are (CPU) and go to ``device`` a
    batch at a time; the model must already be there. ``indices``: the
    images' global indices (the probes' seeds). Progress is reported as
    ``progress_desc`` (default "curvature").
    """
    indices = torch.as_tensor(indices).reshape(-1)
    n = len(images)
    if len(labels) != n or len(indices) != n:
        raise ValueError(f"{n} images, {len(labels)} labels, {len(indices)} indices")
    out: dict[str, list[torch.Tensor]] = {"curvature": [], "directional_eig": [], "loss": []}
    starts = range(0, n, batch_size)
    for s in progress(starts, progress_desc or "curvature", total=len(starts)):
        part = curvature_batch(model, images[s:s + batch_size].to(device), labels[s:s + batch_size].to(device),
                               indices[s:s + batch_size], active, probe)
        for key, value in part.items():
            out[key].append(value)
    return {key: (torch.cat(vals) if vals else torch.empty(0)).to(torch.float64).numpy() for key, vals in out.items()}
