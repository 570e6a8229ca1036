"""The SSVAE study's figures (matplotlib, with the core's theme), each saved as PNG and SVG by
the core's writer (tinyscale.report.figures.save), from summary.csv (read, and checked against
grid.csv, by tinyscale.ssvae.report): the mean and standard deviation over seeds of each
configuration's scores.

Labels are drawn on a log axis (the grid's counts span orders of magnitude), ticked at the
counts the grid ran. Error bars are the standard deviation over seeds; a configuration of one
seed has none. A figure whose slice the grid does not hold says so in place of its lines.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import NullFormatter, NullLocator  # noqa: E402

from ..report.figures import outputs, save, save_all, theme  # noqa: E402,F401  (the CLI calls them from here)
from .report import DISENTANGLEMENT, clean_rate, corruption_sweeps, label_sweep  # noqa: E402

# the figures the CLI draws (workflow/scripts/ssvae/figures.py), in report order
FIGURE_NAMES = ["accuracy_vs_labels", "accuracy_vs_corruption", "disentanglement"]
FIGURES = tuple(FIGURE_NAMES)
SCORE_TITLES = {"beta_vae": "β-VAE score", "factor_vae": "Factor-VAE score", "mig": "MIG (nats)"}
BAR = {"capsize": 3.5, "elinewidth": 1.2, "markersize": 5, "linewidth": 1.8, "marker": "o"}


def colours(values) -> dict:
    values = sorted(set(values))
    palette = sns.color_palette("colorblind", 10) if len(values) <= 10 else sns.color_palette("husl", len(values))
    return dict(zip(values, palette))


def _seeds(counts) -> str:
    counts = sorted(set(int(c) for c in counts))
    text = str(counts[0]) if len(counts) == 1 else f"{counts[0]}\u2013{counts[-1]}"
    return f"{text} seed{'' if counts == [1] else 's'}"


def _line(ax, x, rows: pd.DataFrame, score: str, colour, label: str, gid: str) -> None:
    """Mean over seeds with the standard deviation as error bars (none for one seed)."""
    std = rows[f"{score}_std"].to_numpy(float)
    bars = ax.errorbar(x, rows[f"{score}_mean"].to_numpy(float), yerr=np.nan_to_num(std), color=colour, label=label,
                       **BAR)
    bars.lines[0].set_gid(gid)


def _labels_axis(ax, labels) -> None:
    """A log axis ticked at the label counts the grid ran, and only there."""
    labels = sorted(set(int(n) for n in labels))
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(labels, [str(n) for n in labels])
    if len(labels) > 1:
        ax.set_xlim(labels[0] / 1.25, labels[-1] * 1.25)


def _nothing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="0.3", wrap=True)
    ax.set(xticks=[], yticks=[])
    ax.grid(False)


def _legend(fig, n: int) -> None:
    fig.legend(loc="outside lower center", ncols=min(4, n), fontsize="small")


def _by_alpha(ax, sweep: pd.DataFrame, score: str, colour: dict, label: bool = True) -> None:
    for alpha, rows in sweep.groupby("alpha", sort=True):
        _line(ax, rows["n_labels"].to_numpy(float), rows, score, colour[alpha],
              f"α = {alpha:g} ({_seeds(rows['seeds'])})" if label else None, f"alpha {alpha:g}")
    _labels_axis(ax, sweep["n_labels"])


def accuracy_vs_labels(summary: pd.DataFrame) -> plt.Figure:
    """Per alpha, the mean test accuracy against the number of labelled images (log axis) at the
    label sweep's corruption rate (0 where the grid ran it), the seeds' standard deviation as bars."""
    sweep = label_sweep(summary)
    fig, ax = plt.subplots(figsize=(8.5, 4.6), layout="constrained")
    _by_alpha(ax, sweep, "final_test_accuracy", colours(sweep["alpha"]))
    ax.set(xlabel="labelled images (log scale)", ylabel="test accuracy (mean ± std over seeds)")
    c = clean_rate(summary)
    if c:
        ax.set_title(f"at label corruption {c:g}", fontsize=10, fontweight="normal")
    _legend(fig, sweep["alpha"].nunique())
    return fig


def accuracy_vs_corruption(summary: pd.DataFrame) -> plt.Figure:
    """Per alpha run at more than one corruption rate, a panel: per number of labels so run, the
    mean test accuracy against the corruption rate, the seeds' standard deviation as bars."""
    sweeps = corruption_sweeps(summary)
    alphas = sorted({alpha for alpha, _, _ in sweeps})
    if not alphas:
        fig, ax = plt.subplots(figsize=(8.5, 3.0), layout="constrained")
        _nothing(ax, "The grid ran every (labels, alpha) at one corruption rate only: no corruption sweep to draw.")
        return fig
    cols = min(3, len(alphas))
    rows_n = -(-len(alphas) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(8.5 if cols == 1 else 4.4 * cols, 4.4 * rows_n), sharey=True,
                             squeeze=False, layout="constrained")
    colour = colours(n for _, n, _ in sweeps)
    labelled = set()
    for ax, alpha in zip(axes.flat, alphas):
        for a, n, rows in sweeps:
            if a != alpha:
                continue
            _line(ax, rows["corruption_rate"].to_numpy(float), rows, "final_test_accuracy", colour[n],
                  None if n in labelled else f"{n} labels ({_seeds(rows['seeds'])})", f"n_labels {n} alpha {a:g}")
            labelled.add(n)
        rates = sorted(set(float(c) for a, _, r in sweeps if a == alpha for c in r["corruption_rate"]))
        ax.set_xticks(rates, [f"{c:g}" for c in rates])
        ax.set(xlabel="share of labels corrupted")
        if len(alphas) > 1:
            ax.set_title(f"α = {alpha:g}", fontsize=11)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (mean ± std over seeds)")
    for ax in list(axes.flat)[len(alphas):]:
        ax.set_visible(False)
    if len(alphas) == 1:
        axes[0, 0].set_title(f"α = {alphas[0]:g}", fontsize=11)
    _legend(fig, len(labelled))
    return fig


def disentanglement(summary: pd.DataFrame) -> plt.Figure:
    """The style latent's three disentanglement scores against the number of labelled images, a
    panel each, per alpha, at the label sweep's corruption rate (mean, the seeds' std as bars)."""
    sweep = label_sweep(summary)
    colour = colours(sweep["alpha"])
    fig, axes = plt.subplots(1, len(DISENTANGLEMENT), figsize=(9.6, 3.9), layout="constrained")
    for i, (ax, score) in enumerate(zip(axes, DISENTANGLEMENT)):
        _by_alpha(ax, sweep, score, colour, label=i == 0)
        ax.set_title(SCORE_TITLES[score], fontsize=11)
        ax.set(xlabel="labelled images (log scale)")
    axes[0].set_ylabel("score of the style latent\n(mean ± std over seeds)")
    _legend(fig, sweep["alpha"].nunique())
    return fig


DRAW = {"accuracy_vs_labels": accuracy_vs_labels, "accuracy_vs_corruption": accuracy_vs_corruption,
        "disentanglement": disentanglement}
