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
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ...config import format_eps  # noqa: E402
from ...scaling import UNSTABLE  # noqa: E402
from ..verify import VERDICTS  # noqa: E402
from ...report.figures import outputs, save, save_all, theme  # noqa: E402,F401  (the CLI calls them from here)
from .results import methods_in  # noqa: E402

MARKERS = {"IBP": "s", "CROWN": "^", "alpha-CROWN": "o"}
DASHES = {"IBP": (1.5, 1.5), "CROWN": (5, 2), "alpha-CROWN": ""}
VERDICT_COLOURS = dict(zip(VERDICTS, ["#1b9e77", "#d95f02", "#b3b3b3", "#e6ab02", "#7570b3"]))
NODE_COLOURS = ["#4d4d4d", "#a6761d", "#666666", "#e7298a"]  # scaling: 1 node, 2 nodes, ... (not model colours)


def model_colours(models: list[str]) -> dict[str, tuple]:
    palette = sns.color_palette("colorblind", 10) if len(models) <= 10 else sns.color_palette("husl", len(models))
    return dict(zip(models, palette))


def _models(table: pd.DataFrame, colours: dict) -> list[str]:
    """The models a table holds, in the config's order (the colours' keys)."""
    return [m for m in colours if m in set(table["model"])]


def _eps_axis(ax, eps: list[float]) -> None:
    ax.set_xticks(eps, [format_eps(e) for e in eps], rotation=45 if len(eps) > 5 else 0)
    ax.set_xlabel("eps (L∞ radius of the input box)")


def _legend_right(ax) -> None:
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0))


SEED_STYLES = ["-", "--", ":", "-."]


def seed_styles(seeds: list[int]) -> dict[int, str]:
    """A line style per training seed (solid for the first)."""
    return {s: SEED_STYLES[i % len(SEED_STYLES)] for i, s in enumerate(seeds)}


def _dodge(eps: list[float], n: int) -> list[float]:
    """Sideways offsets (in eps) of ``n`` models' points, so that equal values stay apart."""
    span = (max(eps) - min(eps)) if len(eps) > 1 else max(abs(eps[0]), 1.0)
    step = 0.018 * span
    return [(i - (n - 1) / 2) * step for i in range(n)]


def _lines(sweep: pd.DataFrame, colours: dict, y: str, ylabel: str, log: bool = False) -> plt.Figure:
    """A line per model (colour) and method (marker, dash) over eps: the mean over training seeds,
    with their min-max as a band when there are several. Lines that coincide stay visible:
    each model's points move a little sideways, and an earlier model's line is drawn wider,
    beneath the later ones."""
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    models, methods = _models(sweep, colours), methods_in(sweep)
    eps = sorted(sweep["epsilon"].unique())
    seeds = sorted(sweep["train_seed"].unique())
    stats = sweep.groupby(["model", "method", "epsilon"])[y].agg(["mean", "min", "max"])
    for i, (model, shift) in enumerate(zip(models, _dodge(eps, len(models)))):
        beneath = len(models) - 1 - i  # 0 for the last model, drawn on top
        for method in methods:
            if (model, method) not in stats.index.droplevel(2):
                continue
            rows = stats.loc[(model, method)].sort_index()
            x = rows.index.to_numpy() + shift
            if len(seeds) > 1:
                ax.fill_between(x, rows["min"], rows["max"], color=colours[model], alpha=0.13, linewidth=0,
                                zorder=1)
            line, = ax.plot(x, rows["mean"], color=colours[model], marker=MARKERS[method],
                            markersize=7 + 2.5 * beneath, linewidth=2 + 1.6 * beneath, zorder=2 + i,
                            markeredgecolor="white", markeredgewidth=0.8)
            if DASHES[method]:
                line.set_dashes(DASHES[method])
            line.set_gid(f"{model} {method}")
    _eps_axis(ax, eps)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    handles = [Line2D([], [], color=colours[m], linewidth=2.5, label=m) for m in models]
    handles += [Line2D([], [], color="#444444", marker=MARKERS[m], dashes=DASHES[m] or (None, None),
                       linewidth=1.5, markersize=7, label=m) for m in methods]
    if len(seeds) > 1:
        handles.append(Patch(color="grey", alpha=0.3, label=f"min–max over\n{len(seeds)} training seeds"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
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
    """One row of model x eps cells per method, stacked, on one colour scale: the verified share
    (the mean over training seeds, and below it their min-max, when there are several)."""
    methods, models = methods_in(sweep), _models(sweep, colours)
    eps = sorted(sweep["epsilon"].unique())
    several = sweep["train_seed"].nunique() > 1
    row_h = 0.62 if several else 0.42
    fig, axes = plt.subplots(len(methods), 1, figsize=(0.7 * len(eps) + 2.8 + 0.4 * several,
                                                       (row_h * len(models) + 0.55) * len(methods) + 0.5),
                             sharex=True, squeeze=False, layout="constrained")
    for ax, method in zip(axes[:, 0], methods):
        stats = sweep[sweep["method"] == method].groupby(["model", "epsilon"])["verified_pct"].agg(
            ["mean", "min", "max"])
        grid = stats["mean"].unstack("epsilon").reindex(index=models, columns=eps)
        if several:
            lo = stats["min"].unstack("epsilon").reindex(index=models, columns=eps)
            hi = stats["max"].unstack("epsilon").reindex(index=models, columns=eps)
            annot = grid.map(lambda v: f"{v:.0f}").astype(str) + "\n" + lo.map(lambda v: f"{v:.0f}").astype(str) \
                + "–" + hi.map(lambda v: f"{v:.0f}").astype(str)
            sns.heatmap(grid, vmin=0, vmax=100, cmap="viridis", annot=annot.to_numpy(), fmt="", cbar=False,
                        linewidths=0.5, ax=ax, annot_kws={"fontsize": 9.5})
            ax.set_title(method)
        else:
            sns.heatmap(grid, vmin=0, vmax=100, cmap="viridis", annot=True, fmt=".0f", cbar=False,
                        linewidths=0.5, ax=ax, annot_kws={"fontsize": 11})
            ax.set_title(method)
        ax.set(xlabel="", ylabel="")
        ax.tick_params(axis="y", rotation=0)
        _colour_labels(ax.get_yticklabels(), colours)
    ax = axes[-1, 0]
    ax.set_xticks(np.arange(len(eps)) + 0.5, [format_eps(e) for e in eps], rotation=45 if len(eps) > 6 else 0)
    ax.set_xlabel("eps" + (f"\n(mean, below it min–max over {sweep['train_seed'].nunique()} training seeds)"
                           if several else ""))
    fig.colorbar(axes[0, 0].collections[0], ax=axes[:, 0], label="verified (%)", shrink=0.8)
    return fig


def verdicts(sweep, colours):
    """Stacked verdict counts over eps: a row per method, a column per model (and training seed)."""
    methods, models = methods_in(sweep), _models(sweep, colours)
    eps = sorted(sweep["epsilon"].unique())
    seeds = sorted(sweep["train_seed"].unique())
    columns = [(m, s) for m in models for s in seeds if len(sweep[(sweep["model"] == m) & (sweep["train_seed"] == s)])]
    fig, axes = plt.subplots(len(methods), len(columns),
                             figsize=((max(2.8, 0.45 * len(eps) + 1.3) if len(seeds) == 1
                                       else max(1.9, 0.4 * len(eps) + 1.0)) * len(columns) + 0.8,
                                      1.7 * len(methods) + 0.9 + 0.3 * (len(seeds) > 1)),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    for i, method in enumerate(methods):
        for j, (model, seed) in enumerate(columns):
            ax = axes[i][j]
            rows = (sweep[(sweep["model"] == model) & (sweep["method"] == method) & (sweep["train_seed"] == seed)]
                    .set_index("epsilon").reindex(eps))
            bottom = np.zeros(len(eps))
            for verdict in VERDICTS:
                counts = rows[verdict].fillna(0).to_numpy()
                ax.bar(np.arange(len(eps)), counts, bottom=bottom, color=VERDICT_COLOURS[verdict], width=0.75,
                       edgecolor="white", linewidth=0.5)
                bottom += counts
            ax.set_xticks(np.arange(len(eps)), [format_eps(e) for e in eps], rotation=45 if len(eps) > 4 else 0)
            ax.grid(axis="x", visible=False)
            if i == 0:
                ax.set_title(model if len(seeds) == 1 else f"{model}\nseed {seed}", color=colours[model])
            if i == len(methods) - 1:
                ax.set_xlabel("eps")
            if j == 0:
                ax.set_ylabel(f"{method}\nsamples")
    fig.legend(handles=[Patch(color=VERDICT_COLOURS[v], label=v) for v in VERDICTS], loc="outside upper center",
               ncols=3 if len(columns) < 3 else 5)
    return fig


def training_curves(histories: pd.DataFrame, checkpoints: pd.DataFrame, colours):
    """Loss, clean and PGD test accuracy per epoch, a line per model (colour) and training seed
    (line style); a star marks the kept epoch. The legend says what each model's loss is."""
    c = checkpoints
    attack = c["pgd_attack"].iat[0] if len(c) and c["pgd_attack"].nunique() == 1 else "training's PGD"
    n_test = c["test_samples"].dropna().unique() if len(c) else []
    on = f"{int(n_test[0])} test images" if len(n_test) == 1 else "the test split"
    panels = [("loss", "training loss", 1, "training loss\n(per model: legend)"),
              ("clean_acc", "clean accuracy (%)", 100, f"clean\n{on}"),
              ("pgd_acc", "PGD accuracy (%)", 100, f"{attack}\n{on}")]
    seeds = sorted(histories["train_seed"].unique())
    styles = seed_styles(seeds)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.9), layout="constrained")
    kept = {(r.model, r.train_seed): r.kept_epoch for r in c.itertuples()}
    for ax, (column, label, scale, title) in zip(axes, panels):
        for (model, seed), h in histories.groupby(["model", "train_seed"], sort=False):
            ax.plot(h["epoch"], scale * h[column], color=colours[model], linewidth=1.8, linestyle=styles[seed])
            if (model, seed) in kept:
                at = h[h["epoch"] == kept[model, seed]]
                ax.plot(at["epoch"], scale * at[column], "*", color=colours[model], markersize=11,
                        markeredgecolor="black", markeredgewidth=0.6)
        ax.set(xlabel="epoch", ylabel=label)
        ax.set_title(title, fontsize="medium")
    losses = dict(zip(c["model"], c["loss_name"]))
    handles = [Line2D([], [], color=colours[m], linewidth=2.5, label=f"{m}: loss {losses[m]}" if m in losses else m)
               for m in _models(histories, colours)]
    if len(seeds) > 1:
        handles += [Line2D([], [], color="grey", linestyle=styles[s], label=f"seed {s}") for s in seeds]
    handles.append(Line2D([], [], color="grey", marker="*", linestyle="", markersize=11, markeredgecolor="black",
                          markeredgewidth=0.6, label="kept epoch"))
    models = len(_models(histories, colours))  # a column of models, then the seeds' styles and the kept epoch
    fig.legend(handles=handles, loc="outside lower center", ncols=math.ceil(len(handles) / models))
    return fig


def convergence(table: pd.DataFrame, colours):
    """Verified share over nested sample counts, one panel per eps, the tightest method: a line per
    model (colour) and training seed (line style), each with its checkpoint's 95% Wilson interval."""
    method = methods_in(table)[-1]
    table = table[table["method"] == method]
    eps = sorted(table["epsilon"].unique())
    seeds = sorted(table["train_seed"].unique())
    styles = seed_styles(seeds)
    ncols = min(2, len(eps))
    nrows = math.ceil(len(eps) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 0.4, 2.7 * nrows + 1.0), sharey=True,
                             squeeze=False, layout="constrained")
    sizes = sorted(table["samples"].unique())
    for ax, e in zip(axes.flat, eps):
        for model in _models(table, colours):
            for seed in seeds:
                rows = table[(table["model"] == model) & (table["train_seed"] == seed)
                             & np.isclose(table["epsilon"], e)]
                if rows.empty:
                    continue
                ax.fill_between(rows["samples"], rows["ci_low_pct"], rows["ci_high_pct"], color=colours[model],
                                alpha=0.2 if len(seeds) == 1 else 0.12, linewidth=0)
                ax.plot(rows["samples"], rows["verified_pct"], marker="o", linestyle=styles[seed],
                        color=colours[model], markersize=4)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set(title=f"eps = {format_eps(e)}", xlabel="samples", ylim=(-3, 103))
    for ax in axes.flat[len(eps):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("verified (%)")
    handles = [Line2D([], [], color=colours[m], marker="o", markersize=4, label=m) for m in _models(table, colours)]
    if len(seeds) > 1:
        handles += [Line2D([], [], color="grey", linestyle=styles[s], label=f"seed {s}") for s in seeds]
    handles.append(Patch(color="grey", alpha=0.3, label="95% Wilson interval (test-image sampling)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3))
    fig.suptitle(f"{method}: verified share of the first n samples", fontsize="large")
    return fig


def scaling(table: pd.DataFrame):
    """Throughput against processes with the ideal line, efficiency, and memory per process; error
    bars span the repeats' min-max, and configurations whose repeats lie more than 10% apart are
    ringed in red with their spread."""
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(10, 3.8), layout="constrained")
    base = table.loc[table["world_size"].idxmin()]
    ws = sorted(table["world_size"].unique())
    ax1.plot(ws, [base["samples_per_s"] * w / base["world_size"] for w in ws], "--", color="grey", label="ideal")
    groups = list(table.groupby("nodes"))
    for (nodes, group), colour in zip(groups, NODE_COLOURS * len(groups)):
        label = f"{nodes} node" + ("s" if nodes > 1 else "")
        for ax, mean, lo, hi in ((ax1, group["samples_per_s"], group["repeat_min_samples_per_s"],
                                  group["repeat_max_samples_per_s"]),
                                 (ax2, 100 * group["efficiency"], 100 * group["efficiency_min"],
                                  100 * group["efficiency_max"])):
            ax.errorbar(group["world_size"], mean, yerr=[mean - lo, hi - mean], fmt="o-", color=colour, label=label,
                        markersize=7, capsize=4, elinewidth=1.3)
    flagged = table[table["flagged"]]
    for ax, column in ((ax1, "samples_per_s"), (ax2, "efficiency")):
        scale = 100 if column == "efficiency" else 1
        ax.plot(flagged["world_size"], scale * flagged[column], "o", markersize=15, markerfacecolor="none",
                markeredgecolor="#d62728", markeredgewidth=1.6,
                label=f"repeats > {100 * UNSTABLE:.0f}% apart" if ax is ax1 else None)
        for r in flagged.itertuples():
            ax.annotate(f"{100 * r.repeat_spread:.0f}%", (r.world_size, scale * getattr(r, column)),
                        xytext=(9, -4), textcoords="offset points", color="#d62728", fontsize=10, ha="left",
                        va="top")
    ax2.axhline(100, color="grey", linestyle="--", linewidth=1)
    ax1.set(xlabel="processes", ylabel="samples / s", title="Throughput (repeats: min–max)", xticks=ws)
    ax2.set(xlabel="processes", ylabel="efficiency (%)", title="Efficiency", xticks=ws,
            ylim=(0, max(110, 100 * table["efficiency_max"].max() + 10)))
    pad = 0.3 if len(ws) > 1 else 0.5
    for ax in (ax1, ax2):
        ax.set_xlim(min(ws) - pad, max(ws) + pad)
    colours = [NODE_COLOURS[[n for n, _ in groups].index(n) % len(NODE_COLOURS)] for n in table["nodes"]]
    ax3.bar(table["devices"], table["mem_mb"], color=colours)
    ax3.set(xlabel="devices", ylabel="peak MB per process", title="Memory per process")
    ax3.grid(axis="x", visible=False)
    ax1.legend(loc="upper left", fontsize="small")
    return fig
