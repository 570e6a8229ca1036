"""The report's figures (seaborn), each saved as PNG and SVG.

A model has one colour in every figure (its place in the config's model list
picks it) and a method one marker and dash, so that figures read together.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .. import io  # noqa: E402
from ..config import format_eps  # noqa: E402
from ..verify import VERDICTS  # noqa: E402
from . import FIGURE_DPI  # noqa: E402
from .results import methods_in  # noqa: E402

MARKERS = {"IBP": "s", "CROWN": "^", "alpha-CROWN": "o"}
DASHES = {"IBP": (1.5, 1.5), "CROWN": (5, 2), "alpha-CROWN": ""}
VERDICT_COLOURS = dict(zip(VERDICTS, ["#1b9e77", "#d95f02", "#b3b3b3", "#e6ab02", "#7570b3"]))
NODE_COLOURS = ["#4d4d4d", "#a6761d", "#666666", "#e7298a"]  # scaling: 1 node, 2 nodes, ... (not model colours)


def theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.3,
                  rc={"axes.titleweight": "bold", "svg.hashsalt": "tinyscale", "legend.frameon": False})


def model_colours(models: list[str]) -> dict[str, tuple]:
    palette = sns.color_palette("colorblind", 10) if len(models) <= 10 else sns.color_palette("husl", len(models))
    return dict(zip(models, palette))


def save(fig: plt.Figure, png, svg) -> None:
    """Both formats, written atomically and without timestamps (same results, same bytes)."""
    for path, meta in ((png, {"Software": None}), (svg, {"Date": None})):
        fmt = str(path).rsplit(".", 1)[1]
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=FIGURE_DPI, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def _models(table: pd.DataFrame, colours: dict) -> list[str]:
    """The models a table holds, in the config's order (the colours' keys)."""
    return [m for m in colours if m in set(table["model"])]


def _eps_axis(ax, eps: list[float]) -> None:
    ax.set_xticks(eps, [format_eps(e) for e in eps], rotation=45 if len(eps) > 5 else 0)
    ax.set_xlabel("eps (L∞ radius of the input box)")


def _legend_right(ax) -> None:
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0))


def _lines(sweep: pd.DataFrame, colours: dict, y: str, ylabel: str, log: bool = False) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    sns.lineplot(sweep, x="epsilon", y=y, hue="model", style="method", hue_order=_models(sweep, colours),
                 style_order=methods_in(sweep), palette=colours, markers=MARKERS, dashes=DASHES,
                 markersize=7, linewidth=2, ax=ax)
    _eps_axis(ax, sorted(sweep["epsilon"].unique()))
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    _legend_right(ax)
    return fig


def verified_vs_eps(sweep, colours):
    fig = _lines(sweep, colours, "verified_pct", "verified samples (%)")
    fig.axes[0].set_ylim(-3, 103)
    return fig


def time_vs_eps(sweep, colours):
    return _lines(sweep.assign(ms=1000 * sweep["avg_time_s"]), colours, "ms", "time per sample (ms, log)", log=True)


def memory_vs_eps(sweep, colours):
    return _lines(sweep, colours, "avg_mem_MB", "peak memory (MB)")


def _colour_labels(labels, colours) -> None:
    for label in labels:
        label.set_color(colours.get(label.get_text(), "black"))


def verified_heatmap(sweep, colours):
    """One row of model x eps cells per method, stacked, on one colour scale."""
    methods, models = methods_in(sweep), _models(sweep, colours)
    eps = sorted(sweep["epsilon"].unique())
    fig, axes = plt.subplots(len(methods), 1, figsize=(0.7 * len(eps) + 2.8, (0.42 * len(models) + 0.55) * len(methods)
                             + 0.5), sharex=True, squeeze=False, layout="constrained")
    for ax, method in zip(axes[:, 0], methods):
        grid = (sweep[sweep["method"] == method].pivot(index="model", columns="epsilon", values="verified_pct")
                .reindex(index=models, columns=eps))
        sns.heatmap(grid, vmin=0, vmax=100, cmap="viridis", annot=True, fmt=".0f", cbar=False, linewidths=0.5,
                    ax=ax, annot_kws={"fontsize": 11})
        ax.set_title(method)
        ax.set(xlabel="", ylabel="")
        ax.tick_params(axis="y", rotation=0)
        _colour_labels(ax.get_yticklabels(), colours)
    ax = axes[-1, 0]
    ax.set_xticks(np.arange(len(eps)) + 0.5, [format_eps(e) for e in eps], rotation=45 if len(eps) > 6 else 0)
    ax.set_xlabel("eps")
    fig.colorbar(axes[0, 0].collections[0], ax=axes[:, 0], label="verified (%)", shrink=0.8)
    return fig


def verdicts(sweep, colours):
    """Stacked verdict counts over eps: a row per method, a column per model."""
    methods, models = methods_in(sweep), _models(sweep, colours)
    eps = sorted(sweep["epsilon"].unique())
    fig, axes = plt.subplots(len(methods), len(models), figsize=(max(2.8, 0.45 * len(eps) + 1.3) * len(models) + 0.8,
                             1.7 * len(methods) + 0.9), sharex=True, sharey=True, squeeze=False, layout="constrained")
    for i, method in enumerate(methods):
        for j, model in enumerate(models):
            ax = axes[i][j]
            rows = sweep[(sweep["model"] == model) & (sweep["method"] == method)].set_index("epsilon").reindex(eps)
            bottom = np.zeros(len(eps))
            for verdict in VERDICTS:
                counts = rows[verdict].fillna(0).to_numpy()
                ax.bar(np.arange(len(eps)), counts, bottom=bottom, color=VERDICT_COLOURS[verdict], width=0.75,
                       edgecolor="white", linewidth=0.5)
                bottom += counts
            ax.set_xticks(np.arange(len(eps)), [format_eps(e) for e in eps], rotation=45 if len(eps) > 4 else 0)
            ax.grid(axis="x", visible=False)
            if i == 0:
                ax.set_title(model, color=colours[model])
            if i == len(methods) - 1:
                ax.set_xlabel("eps")
            if j == 0:
                ax.set_ylabel(f"{method}\nsamples")
    fig.legend(handles=[Patch(color=VERDICT_COLOURS[v], label=v) for v in VERDICTS], loc="outside upper center",
               ncols=3)
    return fig


def training_curves(histories: pd.DataFrame, checkpoints: pd.DataFrame, colours):
    panels = [("loss", "training loss", 1), ("clean_acc", "clean test accuracy (%)", 100),
              ("pgd_acc", "PGD test accuracy (%)", 100)]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
    kept = dict(zip(checkpoints["model"], checkpoints["kept_epoch"]))
    for ax, (column, label, scale) in zip(axes, panels):
        for model, h in histories.groupby("model", sort=False):
            ax.plot(h["epoch"], scale * h[column], color=colours[model], linewidth=1.8, label=model)
            if model in kept:
                ax.axvline(kept[model], color=colours[model], linestyle=":", linewidth=1.3)
        ax.set(xlabel="epoch", ylabel=label)
    eps = checkpoints["pgd_eps"].iat[0] if len(checkpoints) else None
    if eps is not None:
        axes[2].set_title(f"PGD at eps={format_eps(eps)}", fontsize="medium")
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="grey", linestyle=":", label="kept epoch"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return fig


def convergence(table: pd.DataFrame, colours):
    """Verified share over nested sample counts, one panel per eps, the tightest method."""
    method = methods_in(table)[-1]
    table = table[table["method"] == method]
    eps = sorted(table["epsilon"].unique())
    ncols = min(2, len(eps))
    nrows = math.ceil(len(eps) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 0.4, 2.7 * nrows + 1.0), sharey=True,
                             squeeze=False, layout="constrained")
    sizes = sorted(table["samples"].unique())
    for ax, e in zip(axes.flat, eps):
        for model in _models(table, colours):
            rows = table[(table["model"] == model) & np.isclose(table["epsilon"], e)]
            ax.fill_between(rows["samples"], rows["ci_low_pct"], rows["ci_high_pct"], color=colours[model], alpha=0.2,
                            linewidth=0)
            ax.plot(rows["samples"], rows["verified_pct"], "o-", color=colours[model], label=model, markersize=4)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set(title=f"eps = {format_eps(e)}", xlabel="samples", ylim=(-3, 103))
    for ax in axes.flat[len(eps):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("verified (%)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.3, label="95% interval"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    fig.suptitle(f"{method}: verified share of the first n samples", fontsize="large")
    return fig


def scaling(table: pd.DataFrame):
    """Throughput against processes with the ideal line, efficiency, and memory per process."""
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
    base = table.loc[table["world_size"].idxmin()]
    ws = sorted(table["world_size"].unique())
    ax1.plot(ws, [base["samples_per_s"] * w / base["world_size"] for w in ws], "--", color="grey", label="ideal")
    groups = list(table.groupby("nodes"))
    for (nodes, group), colour in zip(groups, NODE_COLOURS * len(groups)):
        label = f"{nodes} node" + ("s" if nodes > 1 else "")
        ax1.plot(group["world_size"], group["samples_per_s"], "o-", color=colour, label=label, markersize=7)
        ax2.plot(group["world_size"], 100 * group["efficiency"], "o-", color=colour, label=label, markersize=7)
    ax2.axhline(100, color="grey", linestyle="--", linewidth=1)
    ax1.set(xlabel="processes", ylabel="samples / s", title="Throughput", xticks=ws)
    ax2.set(xlabel="processes", ylabel="efficiency (%)", title="Efficiency", xticks=ws,
            ylim=(0, max(110, 100 * table["efficiency"].max() + 10)))
    colours = [NODE_COLOURS[[n for n, _ in groups].index(n) % len(NODE_COLOURS)] for n in table["nodes"]]
    ax3.bar(table["devices"], table["mem_mb"], color=colours)
    ax3.set(xlabel="devices", ylabel="peak MB per process", title="Memory per device")
    ax3.grid(axis="x", visible=False)
    ax1.legend(loc="upper left")
    return fig
