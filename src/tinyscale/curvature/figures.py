"""The curvature study's figures (matplotlib, with the core's theme), each saved as PNG and
SVG by the core's writer (tinyscale.report.figures.save), from summary.csv,
per_image_scores.csv and each epoch's arrays (read and checked by
tinyscale.curvature.report), and for the picture grid the dataset's own images.

Curvature spans orders of magnitude (the untrained net's is far below a trained one's), so
its distributions are drawn on a log axis as a median line in an interquartile band. Every
figure over epochs marks where the task changes: between the last analysed epoch of a task
and the first of the next (the summary's task column), so that a boundary sits where the
checkpoints' classes change, whichever epoch-to-task rule the run used.
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

from ..errors import ResultsError  # noqa: E402
from ..report.figures import outputs, save, save_all, theme  # noqa: E402,F401  (the CLI calls them from here)

CLEAN, MISLABELLED = sns.color_palette("colorblind")[0], sns.color_palette("colorblind")[3]
CHANCE = "grey"
BOUNDARY = {"color": "0.45", "linestyle": ":", "linewidth": 1.2}
LISTED = 4  # a task's classes are named up to this many; more are counted


def task_colours(tasks) -> dict[int, tuple]:
    tasks = sorted(set(int(t) for t in tasks))
    palette = sns.color_palette("colorblind", 10) if len(tasks) <= 10 else sns.color_palette("husl", len(tasks))
    return dict(zip(tasks, palette))


def task_boundaries(summary: pd.DataFrame) -> list[tuple[float, int]]:
    """(x, the new task) where the task changes: midway between the two analysed epochs."""
    epochs, tasks = summary["epoch"].to_numpy(float), summary["task"].to_numpy(int)
    return [((epochs[i - 1] + epochs[i]) / 2, int(tasks[i])) for i in range(1, len(tasks)) if tasks[i] != tasks[i - 1]]


def _mark_tasks(ax, summary: pd.DataFrame) -> None:
    """Dotted lines at the task boundaries, each task named above its span."""
    marks = task_boundaries(summary)
    for x, _ in marks:
        ax.axvline(x, **BOUNDARY, zorder=1, gid="task boundary")
    starts = [float(summary["epoch"].iat[0])] + [x for x, _ in marks]
    ends = [x for x, _ in marks] + [float(summary["epoch"].iat[-1])]
    names = [int(summary["task"].iat[0])] + [t for _, t in marks]
    for a, b, task in zip(starts, ends, names):
        ax.text((a + b) / 2, 1.01, f"task {task}", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=9, color="0.3")


def _bands(ax, frame: pd.DataFrame, key: str, styles: dict) -> None:
    """Per value of ``key``: the curvature's median over epochs, in its interquartile band."""
    q = frame.groupby([key, "epoch"])["curvature"].quantile([0.25, 0.5, 0.75]).unstack()
    for value, (label, colour) in styles.items():
        if value not in q.index.get_level_values(0):
            continue
        rows = q.loc[value]
        ax.fill_between(rows.index, rows[0.25], rows[0.75], color=colour, alpha=0.2, linewidth=0)
        ax.plot(rows.index, rows[0.5], color=colour, marker="o", markersize=3.5, linewidth=1.8, label=label,
                gid=f"{key} {value}")


def _curvature_axes(ax, summary: pd.DataFrame) -> None:
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="per-image curvature (log)")
    _mark_tasks(ax, summary)


def _classes_text(classes: list[int]) -> str:
    if len(classes) <= LISTED:
        return f"class{'es' if len(classes) > 1 else ''} {', '.join(map(str, classes))}"
    return f"{len(classes)} classes"


def curvature_by_arrival(summary: pd.DataFrame, frame: pd.DataFrame) -> plt.Figure:
    """Per group of classes that arrived in the same task (by the images' training labels), its
    images' curvature over the epochs at which they are active: median and interquartile band."""
    classes = frame.groupby("arrival_task")["label"].agg(lambda s: sorted(set(int(v) for v in s)))
    colours = task_colours(classes.index)
    styles = {t: (f"arrived in task {t} ({_classes_text(classes[t])})", colours[t]) for t in classes.index}
    fig, ax = plt.subplots(figsize=(8.5, 4.6), layout="constrained")
    _bands(ax, frame, "arrival_task", styles)
    _curvature_axes(ax, summary)
    fig.legend(loc="outside lower center", ncols=min(3, len(styles)), fontsize="small")
    return fig


def mislabelled_vs_clean(summary: pd.DataFrame, frame: pd.DataFrame) -> plt.Figure:
    """The curvature of the mislabelled and of the clean images over epochs (median, interquartile band)."""
    last = frame[frame["epoch"] == frame["epoch"].max()]
    counts = last["mislabelled"].value_counts()
    styles = {False: (f"clean ({counts.get(False, 0)} at the last epoch)", CLEAN),
              True: (f"mislabelled ({counts.get(True, 0)} at the last epoch)", MISLABELLED)}
    fig, ax = plt.subplots(figsize=(8.5, 4.4), layout="constrained")
    _bands(ax, frame, "mislabelled", styles)
    _curvature_axes(ax, summary)
    fig.legend(loc="outside lower center", ncols=2, fontsize="small")
    return fig


def auroc(summary: pd.DataFrame) -> plt.Figure:
    """Per epoch, the AUROC with which curvature and the clean loss rank the mislabelled images
    above the clean ones; 0.5 is chance."""
    fig, ax = plt.subplots(figsize=(8.5, 4.2), layout="constrained")
    for column, label, colour in (("auroc", "curvature", MISLABELLED), ("auroc_loss", "clean loss", CLEAN)):
        ax.plot(summary["epoch"], summary[column], marker="o", markersize=4, linewidth=1.8, color=colour,
                label=label, gid=column)
    ax.axhline(0.5, color=CHANCE, linestyle="--", linewidth=1.2, label="chance (0.5)")
    values = summary[["auroc", "auroc_loss"]].to_numpy(float)
    low = np.nanmin(values) if np.isfinite(values).any() else 0.5
    ax.set(xlabel="epoch", ylabel="AUROC: mislabelled above clean", ylim=(min(0.4, low - 0.05), 1.02))
    _mark_tasks(ax, summary)
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")
    return fig


def top_images(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """The last epoch's ``k`` highest-curvature images, highest first (ties by index)."""
    last = frame[frame["epoch"] == frame["epoch"].max()]
    return last.sort_values(["curvature", "index"], ascending=[False, True], kind="stable").head(k)


def _picture(pixels: np.ndarray, max_value: float) -> tuple[np.ndarray, str | None]:
    """(C, H, W) uint8 as imshow takes it: one channel grey (ink dark), three channels RGB."""
    x = pixels.astype(np.float64) / max_value
    return (x[0], "gray_r") if x.shape[0] == 1 else (np.transpose(x, (1, 2, 0)).clip(0, 1), None)


def top_curvature(frame: pd.DataFrame, images, k: int) -> plt.Figure:
    """The last epoch's ``k`` highest-curvature training images, highest first, each titled with
    its rank, curvature and training label; a mislabelled one framed red, its true label beside.
    ``images``: the dataset (tinyscale.curvature.data.Images) whose training set the indices
    name; its labels must be the results' true labels."""
    top = top_images(frame, k)
    index = top["index"].to_numpy()
    if index.max() >= len(images.train_x):
        raise ResultsError(f"image {index.max()} of the results is beyond the {len(images.train_x)} training images "
                           f"of {images.name}: not the dataset the results were computed on")
    wrong = images.train_y[index] != top["true_label"].to_numpy()
    if wrong.any():
        raise ResultsError(f"image {index[wrong][0]}: the dataset's label differs from its true_label in "
                           "per_image_scores.csv: not the dataset (or seed) the results were computed on")
    names = images.class_names
    # about square (a wide grid is shrunk to the page's width, its titles with it), 4 to 8 columns
    cols = min(len(top), max(4, math.ceil(math.sqrt(len(top)))), 8)
    rows = math.ceil(len(top) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 0.4, 1.55 * rows + 0.9), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for rank, (ax, r) in enumerate(zip(axes.flat, top.itertuples()), 1):
        picture, cmap = _picture(images.train_x[r.index], images.max_value)
        ax.imshow(picture, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.axis("on")
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
        label = names[int(r.label)] + (f" (true {names[int(r.true_label)]})" if r.mislabelled else "")
        ax.set_title(f"#{rank}  {r.curvature:.3g}\n{label}", fontsize=8.5, fontweight="normal",
                     color=MISLABELLED if r.mislabelled else "black")
        for spine in ax.spines.values():
            spine.set(visible=True, color=MISLABELLED if r.mislabelled else "0.7",
                      linewidth=2.5 if r.mislabelled else 0.8)
        ax.set_gid(f"image {r.index}" + (" mislabelled" if r.mislabelled else ""))
    epoch = int(frame["epoch"].max())
    fig.suptitle(f"The {len(top)} highest-curvature images at epoch {epoch} ({int(top['mislabelled'].sum())} "
                 "mislabelled)", fontsize=11)
    fig.legend(handles=[Patch(facecolor="white", edgecolor=MISLABELLED, linewidth=2.5,
                              label="mislabelled: training label (true label)"),
                        Line2D([], [], linestyle="", label="title: rank, curvature, training label")],
               loc="outside lower center", ncols=2 if cols > 5 else 1, fontsize="small")
    return fig


# the figures the CLI draws (workflow/scripts/curvature/figures.py), in report order
FIGURES = ("curvature_by_arrival", "mislabelled_vs_clean", "auroc", "top_curvature")
