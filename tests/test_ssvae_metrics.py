"""The style-latent disentanglement scores on synthetic latents with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinyscale.errors import ConfigError
from tinyscale.ssvae.metrics import (FACTOR_EPS, beta_vae_score, disentanglement,
                                     factor_vae_score, mig)

N, D, C, BINS = 2000, 5, 10, 20
LN_C = math.log(C)
# Plug-in MI bias of independent variables, (bins - 1)(C - 1) / (2N) = 0.043 nats
MI_BIAS = (BINS - 1) * (C - 1) / (2 * N)


def _labels(seed: int = 0) -> np.ndarray:
    """Balanced labels (200 per class, shuffled): their plug-in entropy is exactly ln 10."""
    return np.random.default_rng(seed).permutation(np.arange(N) % C)


def _noise(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, D))


@pytest.fixture(scope="module")
def cases():
    """Scores of three latents: a dimension equal to the label, label plus noise, noise."""
    y = _labels()
    noise = _noise()
    label = noise.copy()
    label[:, 2] = y
    moderate = noise.copy()
    moderate[:, 2] = y + np.random.default_rng(2).normal(scale=1.5, size=N)
    return {name: disentanglement(z, y) for name, z in
            [("label", label), ("moderate", moderate), ("noise", noise)]}


def test_label_dimension_scores_high(cases):
    s = cases["label"]
    assert s["beta_vae"] > 0.95
    # top-1 is H(y) = ln 10 exactly; top-2 is the largest of four noise dimensions'
    # plug-in MI (~MI_BIAS each; 0.047 here), so the gap sits just below ln 10
    assert LN_C - 2 * MI_BIAS < s["mig"] <= LN_C - 0.5 * MI_BIAS
    # the label dimension scores ~1 / FACTOR_EPS, the four noise ones ~0
    assert s["factor_vae"] == pytest.approx(1 / FACTOR_EPS / D, rel=1e-3)
    assert np.isfinite(s["factor_vae"])


def test_noise_scores_near_zero(cases):
    s = cases["noise"]
    assert abs(s["beta_vae"]) < 0.1
    # a gap between two biased estimates: well under the bias itself
    assert 0 <= s["mig"] < MI_BIAS
    # (C - 1) / N = 0.0045 per dimension in expectation
    assert 0 <= s["factor_vae"] < 0.05


@pytest.mark.parametrize("key", ["beta_vae", "factor_vae", "mig"])
def test_partial_label_ranks_between(cases, key):
    assert cases["noise"][key] < cases["moderate"][key] < cases["label"][key]


def test_mig_is_a_gap():
    y = _labels()
    z = _noise()
    z[:, 0] = y
    z[:, 3] = y
    assert mig(z, y) == pytest.approx(0.0, abs=1e-12)
    # one dimension: the gap is the MI itself
    assert mig(y[:, None].astype(float), y) == pytest.approx(LN_C, abs=1e-12)
    # a constant dimension carries nothing
    assert mig(np.zeros((N, 1)), y) == 0.0


def test_factor_vae_constant_and_scale():
    y = _labels()
    z = np.zeros((N, 2))
    z[:, 1] = 3.0 * y
    # the constant dimension contributes 0, the label one 1 / FACTOR_EPS
    assert factor_vae_score(z, y) == pytest.approx(0.5 / FACTOR_EPS, rel=1e-3)
    # between = within: means spread as much as the classes are wide
    rng = np.random.default_rng(3)
    means = rng.normal(size=C)
    x = means[y] + rng.normal(scale=means.std(), size=N)
    assert factor_vae_score(x[:, None], y) == pytest.approx(1.0, abs=0.15)


def test_beta_vae_seeded_and_chance_rescaled():
    y = _labels()
    z = _noise()
    assert beta_vae_score(z, y, seed=4) == beta_vae_score(z, y, seed=4)
    # two classes, one perfect dimension
    y2 = y % 2
    assert beta_vae_score(y2[:, None].astype(float), y2, n_classes=2) == 1.0


def test_errors():
    y = _labels()
    z = _noise()
    for fn in (beta_vae_score, factor_vae_score, mig, disentanglement):
        with pytest.raises(ConfigError, match="rows"):
            fn(z[:-1], y)
        with pytest.raises(ValueError, match="at least 2 classes"):
            fn(z, np.zeros(N, dtype=int))
    with pytest.raises(ConfigError, match="out of range"):
        beta_vae_score(z, y, n_classes=5)
    with pytest.raises(ConfigError, match="integers"):
        mig(z, y + 0.5)
    with pytest.raises(ConfigError, match="NaN"):
        factor_vae_score(np.full((N, D), np.nan), y)
