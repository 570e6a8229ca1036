"""The reasoning study's figures (matplotlib, with the core's theme), each saved as PNG and
SVG by the core's writer (tinyscale.report.figures.save), from experiments.csv and the
experiments' metrics.csv (read and checked by tinyscale.reasoning.report).

An architecture has one colour in every figure (:data:`ARCH_COLOURS`), so that figures
read together; the baseline is marked alike everywhere (a black edge, "(baseline)" in
its label). A value a paper reported is drawn only as a hollow marker labelled "paper
(reference)", never as a bar or a point of ours: it was measured on the paper's data,
with the paper's budget.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from ..errors import ResultsError  # noqa: E402
from ..report.figures import outputs, save, save_all, theme  # noqa: E402,F401  (the CLI calls them from here)
from .report import baseline, differences, suites  # noqa: E402

_PALETTE = sns.color_palette("colorblind", 10)
ARCH_COLOURS = {"trm": _PALETTE[0], "hrm": _PALETTE[1], "transformer": _PALETTE[2]}
OTHER_ARCH = _PALETTE[7]  # grey: an architecture this list does not know
BASE_EDGE = "black"
BASE_HATCH = "//"
REFERENCE_MARKER = {"marker": "D", "markersize": 9, "markerfacecolor": "none", "markeredgecolor": "#d62728",
                    "markeredgewidth": 1.8, "linestyle": ""}
REFERENCE_LABEL = "paper (reference)"
BAR_WIDTH = 0.66


def arch_colour(arch: str):
    return ARCH_COLOURS.get(arch, OTHER_ARCH)


def _label(name: str, base: str, sep: str = " ") -> str:
    return f"{name}{sep}(baseline)" if name == base else name


def _arch_handles(archs) -> list:
    return [Patch(color=arch_colour(a), label=a) for a in dict.fromkeys(archs)]


def _copy_note(table: pd.DataFrame) -> str:
    """The copy-the-givens baseline: exact accuracy 0 (a blank cell is never right), token
    accuracy the givens' share, per dataset where there are several."""
    per = table.drop_duplicates("dataset")
    tokens = ", ".join(f"{100 * v:.1f}%" for v in per["copy_token_acc"])
    return f"copying the givens: exact 0%, token {tokens}" + (" (by dataset)" if len(per) > 1 else "")


def accuracy_by_suite(table: pd.DataFrame) -> plt.Figure:
    """Test exact accuracy, a panel per suite (in order of first appearance; experiments that
    no suite lists under "other"), a bar per experiment coloured by architecture; the one
    the others are compared with, hatched with a black edge, opens every panel. A paper's value,
    where there is one, is a hollow marker over the bar, labelled as a reference."""
    base = baseline(table)["experiment"]
    groups = suites(table)
    rows = table.set_index("experiment", drop=False)
    widths = [len(members) for members in groups.values()]
    longest = max(len(n) for n in table["experiment"])
    rotate = longest > 14  # long names lean over; shorter ones get wider slots instead
    slot = 1.05 if rotate else max(1.05, 0.095 * longest)
    fig, axes = plt.subplots(1, len(groups), figsize=(max(5.0, slot * sum(widths) + 0.9 * len(groups)), 4.4),
                             sharey=True, squeeze=False, width_ratios=widths, layout="constrained")
    referenced = False
    for ax, (suite, names) in zip(axes[0], groups.items()):
        x = np.arange(len(names))
        exact = 100 * rows.loc[names, "exact_acc"].to_numpy(dtype=float)
        bars = ax.bar(x, exact, width=BAR_WIDTH, color=[arch_colour(a) for a in rows.loc[names, "arch"]],
                      edgecolor="white", linewidth=0.8)
        for bar, name, v in zip(bars, names, exact):
            bar.set_gid(f"{suite}: {name}")
            if name == names[0]:
                bar.set_hatch(BASE_HATCH)
                bar.set_edgecolor(BASE_EDGE)
                bar.set_linewidth(1.4)
            ax.annotate(f"{v:.1f}", (bar.get_x() + bar.get_width() / 2, v), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=9)
        for i, name in enumerate(names):
            ref = rows.at[name, "ref_exact_acc"]
            if pd.notna(ref):  # beside the bar, clear of its value: a reference, not a result of ours
                ax.plot([i + BAR_WIDTH / 2 + 0.1], [100 * ref], **REFERENCE_MARKER, zorder=5,
                        gid=f"reference: {name}")
                referenced = True
        ax.set_xticks(x, [_label(n, base, "\n") for n in names], rotation=30 if rotate else 0,
                      ha="right" if rotate else "center")
        ax.set_title(suite)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.grid(axis="x", visible=False)
    axes[0, 0].set_ylabel("test exact accuracy (%)")
    axes[0, 0].set_ylim(0, 108)
    handles = _arch_handles(table["arch"])
    handles.append(Patch(facecolor="white", edgecolor=BASE_EDGE, hatch=BASE_HATCH,
                         label="what a suite compares with (its first)"))
    if referenced:
        handles.append(Line2D([], [], **REFERENCE_MARKER, label=f"{REFERENCE_LABEL}: not ours"))
    handles.append(Line2D([], [], linestyle="", label=_copy_note(table)))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)), fontsize="small")
    return fig


def experiment_colours(names: list[str], base: str) -> dict[str, tuple]:
    """A colour per experiment, in the table's order (black for the baseline)."""
    others = [n for n in names if n != base]
    palette = sns.color_palette("colorblind", 10) if len(others) <= 10 else sns.color_palette("husl", len(others))
    return {base: (0.0, 0.0, 0.0), **dict(zip(others, palette))}


def learning_curves(histories: dict[str, pd.DataFrame], table: pd.DataFrame) -> plt.Figure:
    """Test exact accuracy and the training LM loss against the step, a line per experiment
    (in the table's order; the baseline black and wider)."""
    base = baseline(table)["experiment"]
    names = [n for n in table["experiment"] if n in histories]
    colours = experiment_colours(names, base)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.0), layout="constrained")
    for name in names:
        h = histories[name]
        # the baseline wider and beneath: a line that coincides with it stays visible on top
        style = {"color": colours[name], "linewidth": 3.2 if name == base else 1.6, "zorder": 2 if name == base else 3,
                 "gid": name}
        exact = h.dropna(subset=["test_exact_acc"])
        ax1.plot(exact["step"], 100 * exact["test_exact_acc"], marker="o", markersize=3.5, **style)
        loss = h.dropna(subset=["train_lm_loss"])
        ax2.plot(loss["step"], loss["train_lm_loss"], **style)
    ax1.set(xlabel="step", ylabel="test exact accuracy (%)", title="Test exact accuracy", ylim=(-3, 103))
    ax2.set(xlabel="step", ylabel="training LM loss", title="Training LM loss")
    handles = [Line2D([], [], color=colours[n], linewidth=3.2 if n == base else 1.6, label=_label(n, base))
               for n in names]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, max(1, len(handles))))
    return fig


def default_tn_grid(table: pd.DataFrame) -> list[str]:
    """The experiments that differ from the baseline in T and n at most (the baseline too):
    the grid where the rules file names none."""
    base = baseline(table)
    return [r["experiment"] for _, r in table.iterrows() if {k for k, _, _ in differences(r, base)} <= {"T", "n"}]


def tn_heatmap(table: pd.DataFrame, names: list[str]) -> plt.Figure:
    """Test exact accuracy of the experiments ``names`` on a T x n grid (rows T, columns n);
    a cell no experiment fills stays blank; the baseline's cell is framed."""
    unknown = [n for n in names if n not in set(table["experiment"])]
    if unknown:
        raise ResultsError(f"T x n grid: experiment(s) {', '.join(unknown)} are not in experiments.csv")
    if not names:
        raise ResultsError("T x n grid: no experiment to draw")
    rows = table.set_index("experiment", drop=False).loc[list(dict.fromkeys(names))]
    taken = rows.groupby(["T", "n"])["experiment"].agg(list)
    twice = taken[taken.map(len) > 1]
    if len(twice):
        (t, n), both = next(iter(twice.items()))
        raise ResultsError(f"T x n grid: {' and '.join(both)} both have T={t}, n={n}")
    ts, ns = sorted(rows["T"].unique()), sorted(rows["n"].unique())
    grid = (100 * rows.pivot(index="T", columns="n", values="exact_acc")).reindex(index=ts, columns=ns)
    who = rows.pivot(index="T", columns="n", values="experiment").reindex(index=ts, columns=ns)
    base = baseline(table)["experiment"]
    annot = [["" if pd.isna(grid.iat[i, j]) else f"{grid.iat[i, j]:.1f}%\n{_label(who.iat[i, j], base, chr(10))}"
              for j in range(len(ns))] for i in range(len(ts))]
    fig, ax = plt.subplots(figsize=(1.9 * len(ns) + 2.4, 1.3 * len(ts) + 1.4), layout="constrained")
    sns.heatmap(grid, vmin=0, vmax=100, cmap="viridis", annot=np.array(annot, dtype=object), fmt="",
                linewidths=0.5, ax=ax, cbar_kws={"label": "test exact accuracy (%)"}, annot_kws={"fontsize": 9.5})
    for i, t in enumerate(ts):
        for j, n in enumerate(ns):
            if who.iat[i, j] == base:
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor=BASE_EDGE, linewidth=2.5, gid="baseline"))
    ax.grid(False)  # a blank cell is blank
    ax.set_xlabel("n (L_cycles: latent updates per recursion)")
    ax.set_ylabel("T (H_cycles: recursions)")
    ax.tick_params(axis="y", rotation=0)
    return fig


def _spread(values: list[float], gap: float) -> list[float]:
    """Label heights no closer than ``gap``: each at its value, pushed down below the one above."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    out = list(values)
    for k in range(1, len(order)):
        out[order[k]] = min(values[order[k]], out[order[k - 1]] - gap)
    return out


def _count(v: float) -> str:
    """A parameter count as a tick says it: 200k, 1.5M."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:g}{unit}"
    return f"{v:g}"


def params_vs_accuracy(table: pd.DataFrame) -> plt.Figure:
    """Parameters (log scale) against test exact accuracy, a labelled point per experiment
    coloured by architecture, the baseline ringed. Labels of points with about the same
    parameter count are spread apart vertically so that none hides another."""
    base = baseline(table)["experiment"]
    fig, ax = plt.subplots(figsize=(6.8, 4.3), layout="constrained")
    x = table["parameters"].to_numpy(dtype=float)
    y = 100 * table["exact_acc"].to_numpy(dtype=float)
    for arch, rows in table.groupby("arch", sort=False):
        ax.scatter(rows["parameters"], 100 * rows["exact_acc"], color=arch_colour(arch), s=70, zorder=3,
                   edgecolor="white", linewidth=0.8, gid=f"arch {arch}")
    is_base = (table["experiment"] == base).to_numpy()
    ax.scatter(x[is_base], y[is_base], s=190, facecolor="none", edgecolor=BASE_EDGE, linewidth=1.6, zorder=4)
    heights = y.copy()
    for key in np.unique(np.round(np.log10(x), 1)):  # about the same size: a column of labels
        at = np.flatnonzero(np.round(np.log10(x), 1) == key)
        heights[at] = _spread(list(y[at]), gap=6.0)
    for i, name in enumerate(table["experiment"]):
        ax.annotate(_label(name, base), (x[i], y[i]), xytext=(x[i] * 1.12, heights[i]), textcoords="data",
                    va="center", fontsize=9,
                    arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6} if heights[i] != y[i] else None)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    lo, hi = x.min(), x.max()
    ax.set_xlim(lo / 1.5, hi * 2.0)
    ax.set(xlabel="parameters (log)", ylabel="test exact accuracy (%)",
           ylim=(min(-5.0, heights.min() - 4), 105))
    handles = _arch_handles(table["arch"]) + [
        Line2D([], [], marker="o", markersize=11, markerfacecolor="none", markeredgecolor=BASE_EDGE, linestyle="",
               label="baseline")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


# the figures the CLI draws (workflow/scripts/reasoning/figures.py)
FIGURES = ("accuracy_by_suite", "learning_curves", "params_vs_accuracy", "tn_heatmap")
