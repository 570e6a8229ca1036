"""The curvature study's report section (seed 003): how the per-image input-loss curvature
moves over the epochs of class-incremental training, and how well it ranks the images given
a wrong label above the clean ones. Read from the study's result files (results/curvature/):

- summary.csv: a row per analysed epoch (its task, active classes, curvature statistics and
  the AUROC of curvature and of the clean loss for the mislabelled images);
- per_image_scores.csv: a row per scored training image (its labels, the task in which its
  label's class arrived, its memorisation score);
- detection.csv: each per-image score's AUROC;
- training/task_<t>.csv: each task's learning curve (none where the checkpoints were the
  user's own);
- scaling/scaling.csv: the analysis's throughput runs.

The figures (tinyscale.curvature.figures) also read each epoch's arrays
(:func:`load_curvature`). Every number in a sentence or a table is read from these files.
"""
from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from ..errors import ResultsError
from ..report import one_file, read_csv, shared_cpu_note, throughput_rows, throughput_sentence
from .results import ARRAYS, SUMMARY_COLUMNS

TITLE = "Curvature across incremental learning (seed 003)"
SCORE_COLUMNS = ["index", "label", "true_label", "mislabelled", "arrival_task", "epochs_scored", "memorisation",
                 "cumulative_loss", "last_curvature"]
DETECTION_COLUMNS = ["score", "images", "mislabelled", "auroc"]
# val_loss and val_acc exist only with a validation split (curvature.data.val_fraction > 0)
TRAINING_COLUMNS = ["epoch", "task", "train_loss", "train_acc"]
DASH = "\u2013"
SLIDE_ROWS = 14  # table rows a slide holds at 12 pt; a longer table continues on the next slide


# ---------------------------------------------------------------- reading

def _flags(column: pd.Series) -> pd.Series:
    """A True/False column as bools, whatever the CSV reader made of it."""
    return column.astype(str).str.strip().str.lower().isin(["true", "1"])


def _unique(table: pd.DataFrame, column: str, path) -> None:
    twice = sorted(set(table.loc[table[column].duplicated(), column]))
    if twice:
        raise ResultsError(f"{path}: {column}(s) {', '.join(map(str, twice[:5]))} appear in more than one row")


def load_summary(path: str | Path) -> pd.DataFrame:
    """summary.csv, checked (every column, one row per epoch), in epoch order."""
    table = read_csv(path, SUMMARY_COLUMNS)
    _unique(table, "epoch", path)
    return table.sort_values("epoch", kind="stable").reset_index(drop=True)


def load_scores(path: str | Path) -> pd.DataFrame:
    """per_image_scores.csv, checked (every column, one row per image); ``mislabelled`` a bool."""
    table = read_csv(path, SCORE_COLUMNS)
    _unique(table, "index", path)
    table["mislabelled"] = _flags(table["mislabelled"])
    return table


def load_detection(path: str | Path) -> pd.DataFrame:
    return read_csv(path, DETECTION_COLUMNS)


def load_training(paths: list[str | Path]) -> pd.DataFrame | None:
    """Every task's learning curve in one table, in task and epoch order (None without files)."""
    if not paths:
        return None
    table = pd.concat([read_csv(p, TRAINING_COLUMNS) for p in paths], ignore_index=True)
    return table.sort_values(["task", "epoch"], kind="stable").reset_index(drop=True)


def _array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: not a readable array ({err})") from None
    if array.ndim != 1:
        raise ResultsError(f"{path}: expected one value per image, found shape {array.shape}")
    return array


def load_curvature(summary_path: str | Path, summary: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Every analysed epoch's per-image curvature in one long table (epoch, task, index,
    curvature, and the image's label, true_label, mislabelled and arrival_task from
    per_image_scores.csv), from <summary's folder>/epoch_<epoch:04d>/ (its
    per_image_curvature.npy and per_image_index.npy) for each epoch of summary.csv."""
    root = Path(summary_path).parent
    known = scores.set_index("index")
    frames = []
    for row in summary.itertuples():
        folder = root / f"epoch_{int(row.epoch):04d}"
        curvature, index = _array(folder / ARRAYS["curvature"]), _array(folder / ARRAYS["index"])
        if len(curvature) != len(index):
            raise ResultsError(f"{folder}: {ARRAYS['curvature']} and {ARRAYS['index']} differ in length")
        if len(index) != row.images:
            raise ResultsError(f"{folder}: {len(index)} images, but summary.csv gives epoch {row.epoch} {row.images}")
        stray = np.setdiff1d(index, known.index)
        if len(stray):
            raise ResultsError(f"{folder / ARRAYS['index']}: image(s) {', '.join(map(str, stray[:5]))} are not in "
                               "per_image_scores.csv")
        frames.append(pd.DataFrame({"epoch": int(row.epoch), "task": int(row.task), "index": index,
                                    "curvature": curvature.astype(np.float64)}))
    frame = pd.concat(frames, ignore_index=True)
    return frame.join(known[["label", "true_label", "mislabelled", "arrival_task"]], on="index")


# ---------------------------------------------------------------- formatting

def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _auc(v) -> str:
    return DASH if _missing(v) else f"{float(v):.3f}"


def _pct(v) -> str:
    return DASH if _missing(v) else f"{100 * float(v):.1f}%"


def _sci(v) -> str:
    """3 significant digits, a short exponent: 4.86e-3."""
    if _missing(v):
        return DASH
    mantissa, exponent = f"{float(v):.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


# ---------------------------------------------------------------- tables

def epoch_table(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"epoch": summary["epoch"].astype(int), "task": summary["task"].astype(int),
                         "classes": summary["classes"].astype(int), "images": summary["images"].astype(int),
                         "mislabelled": summary["mislabelled"].astype(int),
                         "median curvature": summary["curvature_median"].map(_sci),
                         "AUROC": summary["auroc"].map(_auc), "AUROC loss": summary["auroc_loss"].map(_auc)})


def detection_table(detection: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"score": detection["score"], "images": detection["images"].astype(int),
                         "mislabelled": detection["mislabelled"].astype(int),
                         "AUROC": detection["auroc"].map(_auc)})


def training_table(training: pd.DataFrame) -> pd.DataFrame:
    """Per task: its epochs and the last epoch's training loss and accuracies."""
    rows = []
    for task, curve in training.groupby("task", sort=True):
        last = curve.iloc[-1]
        rows.append({"task": int(task), "epochs": f"{int(curve['epoch'].iat[0])}{DASH}{int(last['epoch'])}",
                     "train loss": f"{last['train_loss']:.3f}", "train acc": _pct(last["train_acc"]),
                     "val acc": _pct(last.get("val_acc"))})
    return pd.DataFrame(rows)


def scaling_rows(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Analysis throughput per (nodes, processes) from scaling/scaling.csv (the core's table)."""
    rows, shared = throughput_rows(path, ("images / pass", "samples"))
    return rows.drop(columns="config"), shared


# ---------------------------------------------------------------- sentences

def noise_sentence(scores: pd.DataFrame) -> str:
    k, n = int(scores["mislabelled"].sum()), len(scores)
    return f"{k} of the {n} scored training images ({_pct(k / n)}) carry an injected wrong label."


def last_epoch_sentence(summary: pd.DataFrame) -> str:
    r = summary.iloc[-1]
    classes = _plural(int(r.classes), "class", "classes")
    where = f"At the last analysed epoch ({int(r.epoch)}, task {int(r.task)}, {classes})"
    if _missing(r.auroc):
        return f"{where}, {int(r.mislabelled)} of the {int(r.images)} images are mislabelled: no AUROC to compute."
    return (f"{where}, curvature ranks the {int(r.mislabelled)} mislabelled of the {int(r.images)} images above the "
            f"clean ones with AUROC {_auc(r.auroc)} (the clean loss: {_auc(r.auroc_loss)}).")


def range_sentence(summary: pd.DataFrame) -> str | None:
    """The epochs at which curvature's AUROC is highest and lowest (first of ties)."""
    scored = summary.dropna(subset=["auroc"])
    if len(scored) < 2:
        return None
    best, worst = scored.loc[scored["auroc"].idxmax()], scored.loc[scored["auroc"].idxmin()]
    return (f"Over the {len(scored)} epochs with mislabelled images, curvature's AUROC is highest at epoch "
            f"{int(best.epoch)} ({_auc(best.auroc)}, task {int(best.task)}) and lowest at epoch {int(worst.epoch)} "
            f"({_auc(worst.auroc)}, task {int(worst.task)}).")


def median_sentence(summary: pd.DataFrame) -> str | None:
    if len(summary) < 2:
        return None
    a, b = summary.iloc[0], summary.iloc[-1]
    return (f"The median curvature goes from {_sci(a.curvature_median)} at epoch {int(a.epoch)} ({int(a.images)} "
            f"images, {int(a.classes)} classes) to {_sci(b.curvature_median)} at epoch {int(b.epoch)} "
            f"({int(b.images)} images, {int(b.classes)} classes).")


def detection_sentence(detection: pd.DataFrame) -> str:
    """Each score's AUROC, the counts once where every score ranks the same images."""
    same = detection[["images", "mislabelled"]].drop_duplicates().shape[0] == 1
    parts = [f"{r.score} {_auc(r.auroc)}" + ("" if same else f" ({int(r.mislabelled)} of {int(r.images)})")
             for r in detection.itertuples()]
    scored = detection.dropna(subset=["auroc"])
    best = f"; highest: {scored.loc[scored['auroc'].idxmax(), 'score']}" if len(scored) else ""
    head = (f"Detecting the {int(detection['mislabelled'].iat[0])} mislabelled of {int(detection['images'].iat[0])} "
            "images, AUROC by score: " if same else "Detecting the mislabelled images, AUROC by score: ")
    return head + ", ".join(parts) + best + "."


def training_sentence(training: pd.DataFrame) -> str:
    last = training.iloc[-1]
    val = f" and validation accuracy {_pct(last['val_acc'])}" if "val_acc" in training.columns else ""
    return (f"At the end of task {int(last['task'])} (epoch {int(last['epoch'])}) the training accuracy is "
            f"{_pct(last['train_acc'])} (against the training labels, the wrong ones included){val}.")


def speed_sentence(summary: pd.DataFrame, scaling: pd.DataFrame) -> str:
    r = summary.iloc[-1]
    text = (f"The analysis of epoch {int(r.epoch)} scored {r.images_per_s:,.0f} images/s "
            f"({_plural(int(r.world_size), 'process', 'processes')}, {r.device}).")
    return text + throughput_sentence(scaling)


# ---------------------------------------------------------------- the section

# the slides' titles, after "Curvature: "
FIGURE_TITLES = {"curvature_by_arrival": "by the task in which the classes arrived",
                 "mislabelled_vs_clean": "mislabelled against clean images",
                 "auroc": "AUROC epoch by epoch", "top_curvature": "the highest-curvature images"}


class Section:
    """The campaign report's section (see tinyscale.report)."""

    title = TITLE

    def __init__(self, summary: pd.DataFrame, scores: pd.DataFrame, detection: pd.DataFrame,
                 training: pd.DataFrame | None = None, scaling: tuple[pd.DataFrame, list[str]] | None = None,
                 figures: list | None = None):
        self.s, self.scores, self.detection, self.training = summary, scores, detection, training
        self.scaling, self.shared = scaling if scaling is not None else (pd.DataFrame(), [])
        self.figures = figures or []

    def facts(self) -> list[tuple[str, str]]:
        s, last = self.s, self.s.iloc[-1]
        return [("curvature epochs", f"{len(s)} analysed ({int(s['epoch'].iat[0])}{DASH}{int(last.epoch)}) over "
                                     f"{_plural(s['task'].nunique(), 'task')}, {int(last.classes)} classes at the end"),
                ("curvature images", f"{len(self.scores)} training images scored, "
                                     f"{int(self.scores['mislabelled'].sum())} with an injected wrong label")]

    def _memorisation(self):
        rows = self.detection[self.detection["score"].astype(str).str.startswith("memorisation")]
        return rows["auroc"].iat[0] if len(rows) else None

    def one_line(self) -> str:
        last = self.s.iloc[-1]
        line = (f"per-image curvature over {len(self.s)} epochs of class-incremental training "
                f"({_plural(self.s['task'].nunique(), 'task')}); at epoch {int(last.epoch)} it ranks the mislabelled "
                f"images with AUROC {_auc(last.auroc)}")
        memo = self._memorisation()
        return line + (f" (memorisation score: {_auc(memo)})" if memo is not None else "")

    def summary(self) -> list[str]:
        lines = [noise_sentence(self.scores), last_epoch_sentence(self.s), range_sentence(self.s),
                 detection_sentence(self.detection), median_sentence(self.s)]
        if self.training is not None:
            lines.append(training_sentence(self.training))
        lines.append(speed_sentence(self.s, self.scaling))
        return [line for line in lines if line]

    def scaling_note(self) -> str:
        note = ("Analysis throughput of the last analysed epoch (results/curvature/scaling/scaling.csv): the epoch's "
                "images are split, in whole batches, over the processes, so the work stays the same as the world size "
                "grows; images/s is the images of a pass over the slowest rank's time, the mean of the repeats; "
                "memory is the largest peak of a process (resident set on the CPU, CUDA allocation on a GPU).")
        return note + shared_cpu_note(self.shared)

    EPOCH_NOTE = ("Per analysed epoch (summary.csv): the task whose classes its checkpoint was trained on, the active "
                  "classes, the images of those classes scored and how many of them are mislabelled, the median "
                  "curvature, and the AUROC with which the curvature (AUROC) and the clean loss (AUROC loss) rank the "
                  "mislabelled images above the clean ones (0.5: chance).")
    DETECTION_NOTE = ("Each per-image score's AUROC for the mislabelled images (detection.csv): the last epoch's "
                      "curvature and clean loss over its images; memorisation (the curvature averaged over the epochs "
                      "that scored an image) and the cumulative sample loss over every scored image.")
    TRAINING_NOTE = ("Each task's last epoch (training/task_<t>.csv): the training loss and accuracy against the "
                     "training labels (the injected wrong ones included), and the accuracy on the held-out validation "
                     "images of the active classes, with their true labels.")

    def story(self, st, n: int) -> list:
        from reportlab.platypus import Paragraph, Spacer

        from ..report.pdf import bullets, closing_parts, table

        story = [Paragraph(f"{n} {self.title}", st["h1"]), Paragraph(f"{n}.1 Summary", st["h2"]),
                 bullets(self.summary(), st["body"]), Spacer(1, 10),
                 Paragraph(f"{n}.2 Epochs", st["h2"]), Paragraph(escape(self.EPOCH_NOTE), st["body"]), Spacer(1, 6),
                 table(epoch_table(self.s), font_size=9), Spacer(1, 10),
                 Paragraph(escape(self.DETECTION_NOTE), st["body"]), Spacer(1, 6),
                 table(detection_table(self.detection), font_size=9), Spacer(1, 14)]
        part = 3
        if self.training is not None:
            story += [Paragraph(f"{n}.{part} Training", st["h2"]), Paragraph(escape(self.TRAINING_NOTE), st["body"]),
                      Spacer(1, 6), table(training_table(self.training), font_size=9), Spacer(1, 14)]
            part += 1
        return story + closing_parts(n, part, self.scaling, self.scaling_note() if len(self.scaling) else "",
                                     self.figures, st)

    def slides(self, prs) -> None:
        from pptx.util import Inches

        from ..report.slides import (BLANK, BODY_TOP, BODY_W, MARGIN, MUTED, SLIDE_H, add_bullets, add_table,
                                     add_text, add_title, figure_slides, fitting_size)

        def slide(heading: str):
            s = prs.slides.add_slide(prs.slide_layouts[BLANK])
            add_title(s, heading)
            return s

        def table_slides(heading: str, frame: pd.DataFrame, note: str | None = None) -> None:
            """``frame`` on as many slides as it needs, the note under its last part where it fits."""
            parts = [frame.iloc[i:i + SLIDE_ROWS] for i in range(0, len(frame), SLIDE_ROWS)]
            for i, part in enumerate(parts):
                s = slide(heading + (" (continued)" if i else ""))
                shape = add_table(s, part, MARGIN, BODY_TOP, BODY_W, size=14 if len(frame) <= 6 else 12)
                top = BODY_TOP + shape.height + Inches(0.25)
                if note and i == len(parts) - 1:
                    if SLIDE_H - Inches(0.3) - top < Inches(1.0):
                        s, top = slide(heading + " (continued)"), BODY_TOP
                    height = SLIDE_H - Inches(0.3) - top
                    add_text(s, MARGIN, top, BODY_W, height, [note], fitting_size([note], BODY_W, height, 16),
                             colour=MUTED)

        s = slide("Curvature: summary")
        add_bullets(s, MARGIN, BODY_TOP, BODY_W, SLIDE_H - BODY_TOP - Inches(0.3), self.summary(), largest=20)
        table_slides("Curvature: per epoch", epoch_table(self.s), self.EPOCH_NOTE)
        table_slides("Curvature: detecting the mislabelled images", detection_table(self.detection),
                     self.DETECTION_NOTE)
        if self.training is not None:
            table_slides("Curvature: training per task", training_table(self.training), self.TRAINING_NOTE)
        if len(self.scaling):
            table_slides("Curvature: analysis throughput", self.scaling, self.scaling_note())
        figure_slides(prs, "Curvature", self.figures, FIGURE_TITLES)


def section(inputs: dict[str, list[str]], provenance: dict) -> Section:
    """From ``inputs`` (as rules/curvature.smk gives them): "summary", "scores" and "detection"
    (one path each), "training" (each task's CSV; none where the checkpoints were the user's),
    "scaling" (scaling/scaling.csv), "figures" (PNGs, in report order) and "captions" (a
    <figure>.rst per figure)."""
    from ..report import caption
    from ..report.pdf import Figure

    figures = {Path(f).stem: Path(f) for f in inputs.get("figures", [])}
    captions = {Path(c).stem: caption(c) for c in inputs.get("captions", [])}
    missing = sorted(set(figures) - set(captions))
    if missing:
        raise ResultsError(f"no caption for figure(s) {', '.join(missing)}")
    def one(key: str, required: bool = True) -> str | None:
        return one_file(inputs, key, "curvature", required)

    scaling = one("scaling", required=False)
    return Section(load_summary(one("summary")), load_scores(one("scores")), load_detection(one("detection")),
                   load_training(inputs.get("training", [])), scaling_rows(scaling) if scaling else None,
                   [Figure(name, png, captions[name]) for name, png in figures.items()])
