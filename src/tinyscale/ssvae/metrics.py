"""Disentanglement scores of a style latent against the digit label.

Three scores, each from a latent matrix ``z`` (N rows, D dimensions) and integer
labels ``y`` (0..C-1), as the reference reports them for the first 5000 test images:

- ``beta_vae_score``: the best single-dimension logistic-regression accuracy,
  rescaled so that chance is 0 and perfect is 1: (acc - 1/C) / (1 - 1/C);
- ``factor_vae_score``: between-class over within-class variance, averaged over
  the dimensions;
- ``mig``: mutual information (nats) of each dimension, cut into equal-width bins,
  with the label; the best dimension's minus the second best's.

For a *style* latent, low values are the goal: the style should not carry the digit.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

# Within-class variance floor, relative to the dimension's total variance: a dimension
# that is a function of the label scores 1 / FACTOR_EPS instead of infinity.
FACTOR_EPS = 1e-6


def _check(z, y) -> tuple[np.ndarray, np.ndarray]:
    """Return z as (N, D) float64 and y as (N,) int64, or raise ConfigError."""
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise ConfigError(f"latents must be an (N, D) array, got shape {z.shape}")
    if y.ndim != 1:
        raise ConfigError(f"labels must be a 1-D array, got shape {y.shape}")
    if len(z) != len(y):
        raise ConfigError(f"latents have {len(z)} rows but labels have {len(y)}")
    if z.shape[1] == 0:
        raise ConfigError("latents have no dimensions")
    if not np.all(np.isfinite(z)):
        raise ConfigError("latents contain NaN or infinite values")
    if y.dtype.kind not in "iub":
        if y.dtype.kind != "f" or not np.all(y == np.round(y)):
            raise ConfigError(f"labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise ConfigError(f"labels must be non-negative, got {int(y.min())}")
    if len(np.unique(y)) < 2:
        raise ConfigError(f"need at least 2 classes among the labels, got {len(np.unique(y))}")
    return z, y


def _stratified_halves(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, held out): each class's rows shuffled, floor(n_k / 2) held out."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_held = len(idx) // 2
        held.append(idx[:n_held])
        fit.append(idx[n_held:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def beta_vae_score(z, y, n_classes: int = 10, seed: int = 0) -> float:
    """Best single-dimension held-out logistic-regression accuracy, chance-rescaled.

    Rows are split by class (seeded by ``seed``): floor(n_k / 2) of each class's
    rows are held out, the rest fit. Each dimension alone is standardised with the
    fitting half's mean and standard deviation, a multinomial logistic regression
    (scikit-learn, default L2 penalty C=1, lbfgs) is fit on that half and scored on
    the held-out half. Returns (acc - 1/C) / (1 - 1/C) of the best dimension, with
    C = ``n_classes``: about 0 for no label information (it can dip below 0),
    1 for a dimension that predicts the label perfectly.
    """
    z, y = _check(z, y)
    if n_classes < 2:
        raise ConfigError(f"n_classes must be at least 2, got {n_classes}")
    if y.max() >= n_classes:
        raise ConfigError(f"label {int(y.max())} is out of range for n_classes={n_classes}")
    fit, held = _stratified_halves(y, seed)
    if len(held) == 0:
        raise ConfigError("too few rows per class to hold out half of them")
    from sklearn.linear_model import LogisticRegression

    best = 0.0
    for d in range(z.shape[1]):
        x = z[:, d]
        mean, std = x[fit].mean(), x[fit].std()
        x = (x - mean) / (std if std > 0 else 1.0)
        model = LogisticRegression(max_iter=1000)
        model.fit(x[fit, None], y[fit])
        best = max(best, float(model.score(x[held, None], y[held])))
    chance = 1.0 / n_classes
    return float((best - chance) / (1.0 - chance))


def factor_vae_score(z, y) -> float:
    """Between-class over within-class variance per dimension, averaged over dimensions.

    Per dimension: between = variance of the class means (weighted by class counts),
    within = mean of the class variances (weighted likewise; between + within is
    the total variance). The ratio's floor is guarded: within + FACTOR_EPS * total,
    so a dimension that is a function of the label scores about 1 / FACTOR_EPS and a
    constant dimension scores 0. Pure noise gives about (C - 1) / N per dimension
    (sampling error only); the value grows without bound as dimensions separate the
    classes, and is 1 where class means spread as much as the classes are wide.
    """
    z, y = _check(z, y)
    classes, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
    n = len(y)
    weights = counts / n
    sums = np.zeros((len(classes), z.shape[1]))
    np.add.at(sums, y_idx, z)
    means = sums / counts[:, None]
    grand = z.mean(axis=0)
    between = (weights[:, None] * (means - grand) ** 2).sum(axis=0)
    within = ((z - means[y_idx]) ** 2).sum(axis=0) / n
    total = between + within
    ratio = np.zeros(z.shape[1])
    live = total > 0
    ratio[live] = between[live] / (within[live] + FACTOR_EPS * total[live])
    return float(ratio.mean())


def _mutual_information(x: np.ndarray, y: np.ndarray, bins: int) -> float:
    """Plug-in mutual information (nats) of x cut into equal-width bins with labels y."""
    lo, hi = x.min(), x.max()
    if hi <= lo:
        return 0.0
    b = np.floor((x - lo) / (hi - lo) * bins).astype(np.int64)
    np.clip(b, 0, bins - 1, out=b)
    n_labels = int(y.max()) + 1
    joint = np.bincount(b * n_labels + y, minlength=bins * n_labels).reshape(bins, n_labels)
    p = joint / len(y)
    px = p.sum(axis=1, keepdims=True)
    py = p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (px @ py)[nz])).sum())


def mig(z, y, bins: int = 20) -> float:
    """Mutual information gap in nats: best dimension's MI with y minus the second best's.

    Each dimension is cut into ``bins`` equal-width bins over its own range (a
    constant dimension has MI 0) and its mutual information with the label is the
    plug-in estimate from the joint histogram. Unnormalised (not divided by H(y));
    with one dimension the second best is 0. The plug-in estimate is biased upwards
    by about (bins - 1)(C - 1) / (2N) for independent variables, and the gap of two
    such estimates is a fraction of that.
    """
    z, y = _check(z, y)
    if bins < 2:
        raise ConfigError(f"bins must be at least 2, got {bins}")
    mi = sorted((_mutual_information(z[:, d], y, bins) for d in range(z.shape[1])), reverse=True)
    second = mi[1] if len(mi) > 1 else 0.0
    return float(mi[0] - second)


def disentanglement(z, y, n_classes: int = 10, seed: int = 0) -> dict[str, float]:
    """All three scores: {"beta_vae", "factor_vae", "mig"} (defaults for the rest)."""
    return {
        "beta_vae": beta_vae_score(z, y, n_classes=n_classes, seed=seed),
        "factor_vae": factor_vae_score(z, y),
        "mig": mig(z, y),
    }
