"""tinyscale.curvature.measure: the finite-difference probes against exact Hessian-vector
products, batch and order invariance, active-class logits, the squared form."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import grad, jvp

from tinyscale.curvature.measure import Probe, curvature_all, curvature_batch, probes

SHAPE = (2, 6, 6)
CLASSES = 5


def mlp() -> nn.Module:
    """A smooth (tanh) net in float64: the exact Hessian is well defined everywhere."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(72, 32), nn.Tanh(), nn.Linear(32, CLASSES)).double().eval()


def convnet() -> nn.Module:
    """Conv + BatchNorm (non-trivial running statistics) + softplus, float64, eval mode."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Softplus(),
                        nn.Conv2d(4, 4, 3, stride=2), nn.BatchNorm2d(4), nn.Tanh(),
                        nn.Flatten(), nn.Linear(16, CLASSES)).double()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def data(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *SHAPE, generator=g, dtype=torch.float64), torch.randint(0, CLASSES, (n,), generator=g)


def exact(model, x, y, indices, active, probe):
    """mean_k ||H v_k|| and mean_k v_k'H v_k per image, H from torch.func (forward-over-reverse)."""
    t = (y.reshape(-1, 1) == active.reshape(1, -1)).int().argmax(1)
    v = probes(indices, x.shape[1:], probe).double() * probe.h
    curv, eig = [], []
    for b in range(len(x)):
        def loss(xi, b=b):
            return nn.functional.cross_entropy(model(xi[None])[:, active], t[b:b + 1])
        hv = torch.stack([jvp(grad(loss), (x[b],), (v[k, b],))[1] for k in range(probe.niter)])
        curv.append(hv.flatten(1).norm(dim=1).mean())
        eig.append((hv * v[:, b]).flatten(1).sum(1).mean())
    return torch.stack(curv).detach().numpy(), torch.stack(eig).detach().numpy()


def test_finite_differences_match_exact_hessian_vector_products():
    """Relative error O(h): small, and about 10x smaller when h is 10x smaller."""
    model, active = mlp(), torch.tensor([0, 2, 3, 4])
    x, y = data(4)
    y = active[y % 4]
    idx = torch.arange(10, 14)
    errs = {}
    for h in (1e-2, 1e-3):
        probe = Probe(h=h, niter=6, seed=3)
        fd = curvature_batch(model, x, y, idx, active, probe)
        curv, eig = exact(model, x, y, idx, active, probe)
        errs[h] = (np.abs(fd["curvature"].numpy() / curv - 1).max(),
                   np.abs(fd["directional_eig"].numpy() / eig - 1).max())
    for which in (0, 1):
        coarse, fine = errs[1e-2][which], errs[1e-3][which]
        assert fine < 1e-2, errs
        assert 5 < coarse / fine < 20, errs


def test_batch_size_does_not_change_values_but_the_seed_form_scales_by_one_over_b():
    model = convnet()
    x, y = data(14)
    idx, active = torch.arange(14), torch.arange(CLASSES)
    runs = {bs: curvature_all(model, x, y, idx, active, Probe(), batch_size=bs) for bs in (1, 7, 64)}
    for bs in (7, 64):
        for key in ("curvature", "directional_eig", "loss"):
            np.testing.assert_allclose(runs[bs][key], runs[1][key], rtol=1e-10, atol=0)
    # the original form: batch-mean loss over all logits; with all classes active it is
    # the per-sample value / B, so it changes with the batch size
    for bs in (7, 14):
        seed = curvature_all(model, x, y, idx, active, Probe(seed_compatible=True), batch_size=bs)
        np.testing.assert_allclose(seed["curvature"] * bs, runs[1]["curvature"], rtol=1e-9)
        np.testing.assert_allclose(seed["directional_eig"] * bs, runs[1]["directional_eig"], rtol=1e-9)
    assert all(p.grad is None for p in model.parameters())


def test_probes_depend_on_seed_and_image_index_only():
    model = convnet()
    x, y = data(12)
    idx, active = torch.arange(100, 112), torch.arange(CLASSES)
    ref = curvature_all(model, x, y, idx, active, Probe(), batch_size=5)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    shuffled = curvature_all(model, x[perm], y[perm], idx[perm], active, Probe(), batch_size=4)
    for key in ref:
        np.testing.assert_allclose(shuffled[key], ref[key][perm.numpy()], rtol=1e-10)
    other = curvature_all(model, x, y, idx, active, Probe(seed=1), batch_size=5)
    assert not np.allclose(other["curvature"], ref["curvature"], rtol=1e-3)
    np.testing.assert_allclose(other["loss"], ref["loss"])      # the clean loss takes no probes
    r = probes(torch.tensor([3, 4]), (2, 3), Probe(niter=4))
    assert r.shape == (4, 2, 2, 3) and r.dtype == torch.float32 and set(r.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(probes(torch.tensor([4]), (2, 3), Probe(niter=4))[:, 0], r[:, 1])


def test_active_class_logits():
    model = mlp()
    x, y = data(6)
    y[0] = 1
    idx = torch.arange(6)
    with pytest.raises(ValueError, match=r"\[1\]"):
        curvature_batch(model, x, y, idx, torch.tensor([0, 2, 3, 4]))
    y = torch.tensor([0, 2, 2, 3, 0, 3])
    part = curvature_batch(model, x, y, idx, torch.tensor([0, 2, 3]))
    full = curvature_batch(model, x, y, idx, torch.arange(CLASSES))
    for key in part:
        assert not torch.allclose(part[key], full[key], rtol=1e-3)
    assert (part["loss"] < full["loss"]).all()     # fewer classes in the softmax's denominator


def test_squared_form_is_the_mean_of_squared_norms():
    model, active = convnet(), torch.tensor([1, 3, 4])
    x, y = data(3)
    y = active[y % 3]
    probe = Probe(form="squared", niter=5, seed=7, h=1e-2)
    got = curvature_batch(model, x, y, torch.tensor([5, 6, 7]), active, probe)
    # a direct loop on image 1: gradient at x and at x + v_k separately
    r = probes(torch.tensor([6]), SHAPE, probe).double()[:, 0]

    def g_at(z):
        z = z[None].clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(z)[:, active], torch.tensor([active.tolist().index(int(y[1]))]))
        return torch.autograd.grad(loss, z)[0][0]

    g0 = g_at(x[1])
    diffs = [g_at(x[1] + probe.h * r[k]) - g0 for k in range(5)]
    want = np.mean([float(d.pow(2).sum()) for d in diffs])
    np.testing.assert_allclose(float(got["curvature"][1]), want, rtol=1e-9)
    with torch.no_grad():                               # needs no grad enabled by the caller
        again = curvature_batch(model, x, y, torch.tensor([5, 6, 7]), active, probe)
    assert torch.equal(again["curvature"], got["curvature"])
