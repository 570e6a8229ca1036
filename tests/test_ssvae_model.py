"""The SSVAE's importance-weighted ELBO against closed forms, quadrature and torch.distributions,
its classifier term, vmap over stacked models, and where its gradients go.

The tiny case: 3 binary pixels, a 4-unit hidden layer, 2 classes and a 1-D style, so every
integral over the style is a 1-D quadrature. Everything runs in float64.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, RelaxedOneHotCategorical, kl_divergence
from torch.func import functional_call, stack_module_state

from tinyscale.ssvae.model import SSVAE, Noise, objective

C = 2
X = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
LABEL = torch.tensor([1])
STD_NORMAL = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))


def _tiny() -> SSVAE:
    """Fixed random weights, large enough (std 1.5) that the bound's gap is visible: here
    ELBO_1 = -5.11 against log p(x, y) = -3.30."""
    model = SSVAE(3, C, style_dim=1, hidden=4).double()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(1.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


def _noise(k: int, batch: int, gen: torch.Generator, n_classes: int = C, style_dim: int = 1) -> Noise:
    n = Noise.draw(k, batch, n_classes, style_dim, gen)
    return Noise(n.uniform.double(), n.normal.double())


def _log_px(model: SSVAE, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(X | y, z) for a column of styles ``z`` (M) at one (relaxed) one-hot ``y`` (1 x C)."""
    z = z.reshape(-1, 1)
    logits = model.decoder(torch.cat([y.expand(len(z), -1), z], -1))
    return Bernoulli(logits=logits).log_prob(X.expand(len(z), -1)).sum(-1)


@pytest.fixture(scope="module")
def tiny():
    """The model and its labelled case's exact answers: ELBO_1 = E_q[log p(x|y,z)] - KL + log(1/C)
    (the expectation by quadrature in the standardised style, the KL in closed form) and
    log p(x, y) = log p(x|y) + log(1/C) with p(x|y) = int p(x|y,z) N(z; 0, 1) dz."""
    model = _tiny()
    with torch.no_grad():
        y = F.one_hot(LABEL, C).double()
        q_z = model.style_posterior(F.relu(model.encoder(X)), y)
        mu, sigma = q_z.mean.reshape(()), q_z.stddev.reshape(())
        t = torch.linspace(-12, 12, 24001, dtype=torch.float64)
        expected_log_lik = torch.trapezoid(STD_NORMAL.log_prob(t).exp() * _log_px(model, y, mu + sigma * t), t)
        kl = kl_divergence(q_z, Normal(torch.zeros_like(q_z.mean), torch.ones_like(q_z.mean))).sum()
        elbo_1 = float(expected_log_lik - kl) - math.log(C)
        z = torch.linspace(-15, 15, 30001, dtype=torch.float64)
        log_px_y = torch.logsumexp(_log_px(model, y, z) + STD_NORMAL.log_prob(z), 0) + math.log(z[1] - z[0])
        log_pxy = float(log_px_y) - math.log(C)
    return model, elbo_1, log_pxy


def _labelled_elbo(model: SSVAE, noise: Noise) -> torch.Tensor:
    batch = noise.normal.shape[1]
    with torch.no_grad():
        elbo, _ = model(X.expand(batch, -1), noise, LABEL.expand(batch))
    return elbo


def test_labelled_k1_mean_is_the_closed_form_elbo(tiny):
    model, elbo_1, log_pxy = tiny
    assert elbo_1 < log_pxy - 1.0                     # the case separates the bounds
    # many random draws: within 4 standard errors
    est = _labelled_elbo(model, _noise(1, 400_000, torch.Generator().manual_seed(2)))
    se = float(est.std()) / math.sqrt(len(est))
    assert abs(float(est.mean()) - elbo_1) < 4 * se, (float(est.mean()), elbo_1, se)
    # the noise is an argument: standard-normal quantiles make the mean a midpoint rule
    m = 20_000
    quantiles = STD_NORMAL.icdf((torch.arange(m, dtype=torch.float64) + 0.5) / m)
    det = _labelled_elbo(model, Noise(torch.rand(1, m, C, dtype=torch.float64), quantiles.reshape(1, m, 1)))
    assert float(det.mean()) == pytest.approx(elbo_1, abs=2e-3)


def test_labelled_iwae_orders_and_approaches_log_marginal(tiny):
    model, elbo_1, log_pxy = tiny
    gen = torch.Generator().manual_seed(3)
    means = {}
    for k, batch in ((1, 100_000), (10, 10_000), (5000, 100)):
        est = _labelled_elbo(model, _noise(k, batch, gen))
        means[k] = (float(est.mean()), float(est.std()) / math.sqrt(batch))
    (m1, s1), (m10, s10), (m5000, s5000) = means[1], means[10], means[5000]
    # ELBO_1 <= ELBO_10 <= ELBO_5000 <= log p(x, y), each gap far beyond the noise
    assert m1 + 4 * math.hypot(s1, s10) < m10
    assert m10 + 4 * math.hypot(s10, s5000) < m5000
    assert m5000 < log_pxy + 4 * s5000
    # IWAE's bias is O(1/K): at K = 5000 within a few thousandths of log p(x, y)
    assert abs(m5000 - log_pxy) < 0.01 + 4 * s5000, (m5000, log_pxy, s5000)


def _reference_log_w(model: SSVAE, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x|y,z) p(y) p(z) / (q(y|x) q(z|x,y)) scored with RelaxedOneHotCategorical on the
    simplex (the model scores log y with ExpRelaxedCategorical)."""
    h = F.relu(model.encoder(x))
    temp = torch.tensor(model.temperature, dtype=x.dtype)
    q_y = RelaxedOneHotCategorical(temp, logits=model.digit(h))
    p_y = RelaxedOneHotCategorical(temp, logits=torch.zeros(len(x), model.n_classes, dtype=x.dtype))
    q_z = model.style_posterior(h, y)
    log_px = Bernoulli(logits=model.decoder(torch.cat([y, z], -1))).log_prob(x).sum(-1)
    return (log_px + p_y.log_prob(y) - q_y.log_prob(y)
            + STD_NORMAL.log_prob(z).sum(-1) - q_z.log_prob(z).sum(-1))


def test_unlabelled_k1_mean_matches_torch_distributions_sampling(tiny):
    model, _, _ = tiny
    n = 200_000
    x = X.expand(n, -1)
    with torch.no_grad():
        ours = model(x, _noise(1, n, torch.Generator().manual_seed(4)))[0]
        # independent: torch.distributions' own reparameterised samplers
        torch.manual_seed(5)
        h = F.relu(model.encoder(x))
        y = RelaxedOneHotCategorical(torch.tensor(model.temperature, dtype=torch.float64),
                                     logits=model.digit(h)).rsample()
        z = model.style_posterior(h, y).rsample()
        ref = _reference_log_w(model, x, y, z)
    assert torch.isfinite(ours).all() and torch.isfinite(ref).all()
    se = math.hypot(float(ours.std()), float(ref.std())) / math.sqrt(n)
    assert abs(float(ours.mean()) - float(ref.mean())) < 4 * se, (float(ours.mean()), float(ref.mean()), se)


def test_unlabelled_log_space_scoring_equals_simplex_scoring_draw_by_draw(tiny):
    """The same draws scored both ways: the exp's Jacobian (sum of log y) appears in both
    RelaxedOneHotCategorical densities and cancels in the weight, so K = 1 weights agree."""
    model, _, _ = tiny
    n = 1000
    noise = _noise(1, n, torch.Generator().manual_seed(6))
    x = X.expand(n, -1)
    with torch.no_grad():
        ours = model(x, noise)[0]
        logits = model.digit(F.relu(model.encoder(x)))
        gumbel = -torch.log(-torch.log(noise.uniform[0]))
        y = torch.softmax((logits + gumbel) / model.temperature, -1)
        q_z = model.style_posterior(F.relu(model.encoder(x)), y)
        z = q_z.mean + q_z.stddev * noise.normal[0]
        ref = _reference_log_w(model, x, y, z)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-9)


def test_objective_adds_alpha_times_the_classifier_log_probability():
    torch.manual_seed(0)
    model = SSVAE(6, 3, style_dim=2, hidden=8)
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    labels = torch.tensor([0, 2, 1, 1, 0])
    noise = Noise.draw(4, 5, 3, 2, torch.Generator().manual_seed(0))
    elbo, log_q = model(x, noise, labels)
    log_softmax = F.log_softmax(model.classify(x), -1)[torch.arange(5), labels]
    torch.testing.assert_close(log_q, log_softmax)
    for alpha in (0.0, 0.5, 50.0):
        want = -(elbo + alpha * log_softmax).mean()
        torch.testing.assert_close(objective(elbo, log_q, alpha, supervised=True), want)
    # unlabelled: no classifier term, whatever alpha is
    elbo_u, log_q_u = model(x, noise)
    assert torch.equal(log_q_u, torch.zeros(5))
    torch.testing.assert_close(objective(elbo_u, log_q_u, 50.0, supervised=False), -elbo_u.mean())


@pytest.mark.parametrize("labelled", [False, True])
def test_vmap_over_stacked_models_equals_each_model(labelled):
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(SSVAE(6, 3, style_dim=2, hidden=8))
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    x = torch.bernoulli(torch.full((5, 6), 0.5), generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 2, 1, 1, 0]) if labelled else None
    noise = Noise.draw(4, 5, 3, 2, torch.Generator().manual_seed(3), models=(2,))

    def one(p, b, uniform, normal):
        return functional_call(base, (p, b), (x, Noise(uniform, normal), labels))

    elbo, log_q = torch.vmap(one)(params, buffers, noise.uniform, noise.normal)
    assert elbo.shape == (2, 5)
    for i, model in enumerate(models):
        want_elbo, want_log_q = model(x, Noise(noise.uniform[i], noise.normal[i]), labels)
        torch.testing.assert_close(elbo[i], want_elbo, rtol=0, atol=1e-5)
        torch.testing.assert_close(log_q[i], want_log_q, rtol=0, atol=1e-5)
    assert not torch.allclose(elbo[0], elbo[1])      # two different models


@pytest.mark.parametrize("labelled", [False, True])
def test_gradient_reaches_every_parameter(labelled):
    torch.manual_seed(0)
    model = SSVAE(6, 3, style_dim=2, hidden=8)
    x = torch.bernoulli(torch.full((16, 6), 0.5), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(16) % 3 if labelled else None
    noise = Noise.draw(4, 16, 3, 2, torch.Generator().manual_seed(2))
    elbo, log_q = model(x, noise, labels)
    if labelled:
        # the labelled ELBO does not involve the digit head (y is observed) ...
        grads = torch.autograd.grad(-elbo.mean(), list(model.parameters()), allow_unused=True,
                                    retain_graph=True)
        unused = {name for (name, _), g in zip(model.named_parameters(), grads) if g is None}
        assert unused == {"digit.weight", "digit.bias"}
    # ... the classifier term, or on an unlabelled batch the ELBO through the relaxation, does
    objective(elbo, log_q, 1.0, supervised=labelled).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
