"""The curvature study's figures and report section from a small results set written here, in
the pipeline's formats: four analysed epochs over two tasks of the digits dataset (classes 3
and 1 arrive in task 0, 0 and 2 in task 1), 40 training images of which 8 carry a wrong label.

summary.csv, detection.csv and the training curves hold round numbers chosen here; the
sentences the section must state from them are written out by hand below.
"""
from __future__ import annotations

import json
import types

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT, assert_deck_is_legible, build_reports, write_scaling
from test_report import deck_texts, pdf_text, run

FIGURES = ["curvature_by_arrival", "mislabelled_vs_clean", "auroc", "top_curvature"]
DATA = {"dataset": "digits", "path": None, "test_fraction": 0.2, "val_fraction": 0.1, "label_noise": 0.1}
ARRIVAL = {3: 0, 1: 0, 0: 1, 2: 1}          # class -> the task it arrives in
WRONG = {0: 1, 1: 2, 2: 3, 3: 0}            # true class -> the label a mislabelled image gets
EPOCHS = pd.DataFrame({"epoch": [0, 10, 20, 30], "task": [0, 0, 1, 1], "classes": [2, 2, 4, 4],
                       "active_classes": ["3 1", "3 1", "3 1 0 2", "3 1 0 2"],
                       "curvature_median": [2e-4, 3e-5, 1.5e-3, 2.25e-3], "auroc": [0.55, 0.9, 0.95, 0.875],
                       "auroc_loss": [0.45, 0.92, 0.97, 0.99], "images_per_s": [800.0, 900.0, 1000.0, 1234.4]})
SCALE = {0: 0.1, 10: 1.0, 20: 2.0, 30: 3.0}  # each epoch's curvature, times the image's own
DETECTION = [("curvature at the last epoch", 0.875), ("clean loss at the last epoch", 0.99),
             ("memorisation (curvature averaged over epochs)", 0.9312), ("cumulative sample loss", 0.96)]
# by hand, from the numbers above (speed-up 1600 / 1000 = 1.60, efficiency 1.60 / 2 = 80%)
SUMMARY = [
    "8 of the 40 scored training images (20.0%) carry an injected wrong label.",
    "At the last analysed epoch (30, task 1, 4 classes), curvature ranks the 8 mislabelled of the 40 images above "
    "the clean ones with AUROC 0.875 (the clean loss: 0.990).",
    "Over the 4 epochs with mislabelled images, curvature's AUROC is highest at epoch 20 (0.950, task 1) and lowest "
    "at epoch 0 (0.550, task 0).",
    "Detecting the 8 mislabelled of 40 images, AUROC by score: curvature at the last epoch 0.875, clean loss at the "
    "last epoch 0.990, memorisation (curvature averaged over epochs) 0.931, cumulative sample loss 0.960; highest: "
    "clean loss at the last epoch.",
    "The median curvature goes from 2.00e-4 at epoch 0 (20 images, 2 classes) to 2.25e-3 at epoch 30 (40 images, "
    "4 classes).",
    "At the end of task 1 (epoch 30) the training accuracy is 80.0% (against the training labels, the wrong ones "
    "included) and validation accuracy 95.0%.",
    "The analysis of epoch 30 scored 1,234 images/s (1 process, cpu). Scaling runs: 1,000 images/s on 1xcpu to "
    "1,600 on 2xcpu (speed-up 1.60, efficiency 80%).",
]


def images_of_study():
    from tinyscale.curvature.training import load_images
    return load_images(DATA, 0)


def write_results(root, true_y: np.ndarray) -> dict:
    """The result files of a run, in results/curvature/'s layout under ``root``."""
    from tinyscale.curvature import results

    # the first 10 training images of each of the classes 0-3; the first 2 of each mislabelled
    index = np.sort(np.concatenate([np.flatnonzero(true_y == c)[:10] for c in range(4)]))
    true = true_y[index]
    wrong = np.zeros(len(index), bool)
    for c in range(4):
        wrong[np.flatnonzero(true == c)[:2]] = True
    label = np.where(wrong, [WRONG[int(t)] for t in true], true)
    own = np.where(wrong, 0.1, 0.001) + np.arange(len(index)) * np.where(wrong, 1e-3, 1e-4)  # all distinct
    n = len(true_y)
    labels, trues, flags = true_y.copy(), true_y.copy(), np.zeros(n, bool)
    labels[index], flags[index] = label, wrong
    epochs, rows = [], []
    for r in EPOCHS.itertuples():
        active = [int(c) for c in r.active_classes.split()]
        at = np.isin(label, active)
        e = {"index": index[at], "curvature": (own[at] * SCALE[r.epoch]).astype(np.float32),
             "labels": label[at], "loss": own[at] * 10, "directional_eig": np.zeros(at.sum()),
             "metadata": {"epoch": r.epoch, "allowed_classes": active}}
        folder = root / f"epoch_{r.epoch:04d}"
        folder.mkdir(parents=True)
        for key, name in results.ARRAYS.items():
            np.save(folder / name, e[key])
        (folder / "metadata.json").write_text(json.dumps(e["metadata"]))
        epochs.append(e)
        rows.append({**r._asdict(), "images": int(at.sum()), "mislabelled": int(wrong[at].sum()),
                     "curvature_mean": 0.01, "curvature_std": 0.02, "curvature_min": 1e-6, "curvature_max": 0.4,
                     "directional_eig_mean": 0.0, "loss_mean": 0.3, "world_size": 1, "device": "cpu"})
    files = {"summary": root / "summary.csv", "scores": root / "per_image_scores.csv",
             "detection": root / "detection.csv", "scaling": root / "scaling/scaling.csv",
             "training": [root / f"training/task_{t}.csv" for t in (0, 1)]}
    pd.DataFrame(rows)[results.SUMMARY_COLUMNS].to_csv(files["summary"], index=False)
    arrival = np.array([ARRIVAL.get(c, 9) for c in range(10)])
    results.per_image_scores(epochs, labels, trues, flags, arrival).to_csv(files["scores"], index=False)
    pd.DataFrame([{"score": s, "images": 40, "mislabelled": 8, "auroc": a} for s, a in DETECTION]).to_csv(
        files["detection"], index=False)
    files["training"][0].parent.mkdir()
    for t, (acc, val) in enumerate([(0.9, 1.0), (0.8, 0.95)]):
        pd.DataFrame({"epoch": [15 * t + 1, 15 * t + 8, 15 * t + 15], "task": t, "lr": 0.1,
                      "train_loss": [1.0, 0.5, 0.25], "train_acc": [0.5, 0.7, acc], "val_loss": 0.2,
                      "val_acc": [0.6, 0.8, val]}).to_csv(files["training"][t], index=False)
    write_scaling(files["scaling"], "curvature", 256, 40, 500.0)
    return files


def inputs(files: dict, figures: dict | None = None) -> dict:
    """The section's inputs, as rules/curvature.smk gives them (captions: full paths here)."""
    out = {k: [str(files[k])] for k in ("summary", "scores", "detection", "scaling")}
    out["training"] = list(map(str, files["training"]))
    if figures:
        out["figures"] = [str(figures[n]) for n in FIGURES]
        out["captions"] = [str(ROOT / "workflow/report/curvature" / f"{n}.rst") for n in FIGURES]
    return out


@pytest.fixture(scope="module")
def study():
    return images_of_study()


@pytest.fixture(scope="module")
def files(tmp_path_factory, study):
    return write_results(tmp_path_factory.mktemp("curvature"), study.train_y)


@pytest.fixture(scope="module")
def section(files):
    from tinyscale.curvature.report import section
    return section(inputs(files), {})


@pytest.fixture(scope="module")
def frame(files):
    from tinyscale.curvature.report import load_curvature, load_scores, load_summary
    summary = load_summary(files["summary"])
    return summary, load_curvature(files["summary"], summary, load_scores(files["scores"]))


# ---------------------------------------------------------------- sentences and tables

def test_the_summary_states_the_numbers_of_the_files(section):
    assert section.summary() == SUMMARY
    assert section.one_line().endswith("at epoch 30 it ranks the mislabelled images with AUROC 0.875 "
                                       "(memorisation score: 0.931)")
    assert dict(section.facts()) == {"curvature epochs": "4 analysed (0\u201330) over 2 tasks, 4 classes at the end",
                                     "curvature images": "40 training images scored, 8 with an injected wrong label"}


def test_the_tables_hold_every_epoch_task_and_run(section):
    from tinyscale.curvature.report import detection_table, epoch_table, training_table
    epochs = epoch_table(section.s)
    assert epochs.iloc[0].tolist() == [0, 0, 2, 20, 4, "2.00e-4", "0.550", "0.450"]
    assert epochs["AUROC"].tolist() == ["0.550", "0.900", "0.950", "0.875"]
    assert detection_table(section.detection)["AUROC"].tolist() == ["0.875", "0.990", "0.931", "0.960"]
    assert training_table(section.training).values.tolist() == [[0, "1\u201315", "0.250", "90.0%", "100.0%"],
                                                               [1, "16\u201330", "0.250", "80.0%", "95.0%"]]
    assert section.scaling[["devices", "images/s", "speed-up", "efficiency"]].values.tolist() == [
        ["1xcpu", "1,000", "1.00", "100%"], ["2xcpu", "1,600", "1.60", "80%"]]
    assert section.shared == ["2xcpu"] and "Runs on 2xcpu had less than 90% of a core" in section.scaling_note()


def test_without_training_curves_or_scaling_the_section_says_less(files):
    """The user's own checkpoints: no training curves; a run without scaling: no scaling table."""
    from tinyscale.curvature.report import section
    bare = section({**inputs(files), "training": [], "scaling": []}, {})
    assert bare.summary() == SUMMARY[:-2] + ["The analysis of epoch 30 scored 1,234 images/s (1 process, cpu)."]


@pytest.mark.parametrize("name, column", [("summary", "auroc"), ("scores", "arrival_task"), ("detection", "auroc"),
                                          ("training", "train_acc"), ("scaling", "samples")])
def test_a_missing_column_is_one_error_naming_the_file(files, tmp_path, name, column):
    from tinyscale.curvature.report import section
    from tinyscale.errors import ResultsError
    source = files[name][0] if name == "training" else files[name]
    broken = tmp_path / source.name
    pd.read_csv(source).drop(columns=[column]).to_csv(broken, index=False)
    given = inputs(files)
    given[name] = [str(broken)] + given[name][1:]
    with pytest.raises(ResultsError, match=f"^{broken}: missing column\\(s\\) {column}$"):
        section(given, {})


def test_the_epoch_arrays_join_their_images_and_name_a_bad_file(files, frame, tmp_path):
    import shutil

    from tinyscale.curvature.report import load_curvature, load_scores
    from tinyscale.errors import ResultsError
    summary, curvature = frame
    assert curvature.groupby("epoch").size().tolist() == [20, 20, 40, 40]
    assert sorted(curvature.loc[curvature["epoch"] == 0, "arrival_task"].unique()) == [0]
    assert curvature.loc[curvature["epoch"] == 30, "mislabelled"].sum() == 8
    copy = tmp_path / "results"
    shutil.copytree(files["summary"].parent, copy)
    (copy / "epoch_0020/per_image_index.npy").unlink()
    with pytest.raises(ResultsError, match=f"^{copy}/epoch_0020/per_image_index.npy: not a readable array"):
        load_curvature(copy / "summary.csv", summary, load_scores(files["scores"]))


# ---------------------------------------------------------------- figures

def test_the_figures_draw_what_the_files_hold(frame):
    import matplotlib.pyplot as plt

    from tinyscale.curvature import figures
    summary, curvature = frame
    fig = figures.curvature_by_arrival(summary, curvature)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert {ln.get_gid() for ln in ax.get_lines()} >= {"arrival_task 0", "arrival_task 1", "task boundary"}
    assert [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_gid() == "task boundary"] == [15.0]  # 10 | 20
    assert [t.get_text() for t in ax.texts] == ["task 0", "task 1"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["arrived in task 0 (classes 1, 3)", "arrived in task 1 (classes 0, 2)"]
    late = next(ln for ln in ax.get_lines() if ln.get_gid() == "arrival_task 1")
    assert list(late.get_xdata()) == [20, 30]  # active from task 1 on
    plt.close(fig)
    fig = figures.mislabelled_vs_clean(summary, curvature)
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "mislabelled True")
    last = curvature[(curvature["epoch"] == 30) & curvature["mislabelled"]]["curvature"]
    assert line.get_ydata()[-1] == pytest.approx(np.median(last))
    assert "mislabelled (8 at the last epoch)" in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
    fig = figures.auroc(summary)
    lines = {ln.get_gid(): ln for ln in fig.axes[0].get_lines()}
    assert list(lines["auroc"].get_ydata()) == [0.55, 0.9, 0.95, 0.875]
    assert list(lines["auroc_loss"].get_ydata()) == [0.45, 0.92, 0.97, 0.99]
    plt.close(fig)


def test_the_grid_shows_the_highest_curvature_images_and_marks_the_mislabelled(frame):
    import matplotlib.pyplot as plt

    from tinyscale.curvature import figures
    from tinyscale.errors import ResultsError
    _, curvature = frame
    last = curvature[curvature["epoch"] == 30].sort_values("curvature", ascending=False)
    images = types.SimpleNamespace(train_x=np.zeros((2000, 1, 8, 8), np.uint8), train_y=np.zeros(2000, int),
                                   max_value=16.0, class_names=[f"c{i}" for i in range(10)], name="fake")
    images.train_y[last["index"]] = last["true_label"]
    fig = figures.top_curvature(curvature, images, 10)
    shown = [ax for ax in fig.axes if ax.get_gid()]
    # the 8 mislabelled images curve most, then two clean ones
    assert [ax.get_gid() for ax in shown] == [f"image {i}" + (" mislabelled" if m else "")
                                              for i, m in zip(last["index"][:10], last["mislabelled"][:10])]
    first = last.iloc[0]
    assert shown[0].get_title() == (f"#1  {first.curvature:.3g}\nc{first.label} (true c{first.true_label})")
    assert "(true" not in shown[-1].get_title()
    assert "(8 mislabelled)" in fig._suptitle.get_text()
    plt.close(fig)
    images.train_y[last["index"].iat[0]] += 1
    with pytest.raises(ResultsError, match="not the dataset .or seed. the results were computed on"):
        figures.top_curvature(curvature, images, 10)


@pytest.fixture(scope="module")
def drawn(files):
    """The four figures, drawn by the CLI as the rule calls it (the digits images themselves)."""
    out = files["summary"].parent / "figures"
    outs = [out / f"{n}.{ext}" for n in FIGURES for ext in ("png", "svg")]
    run("curvature/figures.py", "--data", json.dumps(DATA), "--seed", 0, "--summary", files["summary"],
        "--scores", files["scores"], "--top-k", 16, "--out", *outs)
    return {n: out / f"{n}.png" for n in FIGURES}


def test_the_cli_draws_every_figure_as_png_and_svg(drawn):
    from PIL import Image
    for name, png in drawn.items():
        with Image.open(png) as im:
            pixels = np.asarray(im.convert("L"))
        assert pixels.shape[1] > 600 and (pixels < 200).mean() > 0.01, name
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml"), name


# ---------------------------------------------------------------- the section: PDF and deck

@pytest.fixture(scope="module")
def report(files, drawn):
    from tinyscale.curvature.report import section
    from tinyscale.report import provenance
    record = provenance.collect({"name": "curvatureset", "seed": 0}, [], ROOT, "snakemake reports",
                                {"curvature analysis": [str(files["summary"])]})
    part = section(inputs(files, drawn), record)
    return build_reports(part, record, files["summary"].parent)


def test_the_pdf_states_the_summary_tables_and_figures(report):
    text = pdf_text(report["pdf"])
    for sentence in SUMMARY:
        assert sentence in text, sentence
    assert "30 1 4 40 8 2.25e-3 0.875 0.990" in text  # the last epoch's row
    assert "1 16–30 0.250 80.0% 95.0%" in text
    for n in range(1, 5):
        assert f"Figure {n}." in text
    assert "TODO" not in text


def test_the_deck_has_its_slides_and_keeps_shapes_on_the_slide_apart(report):
    from pptx import Presentation
    texts = deck_texts(report["slides"])
    assert SUMMARY[1] in next(t for t in texts if t.startswith("Curvature: summary"))
    deck = Presentation(report["slides"])
    assert sum(1 for s in deck.slides for sh in s.shapes if sh.shape_type == 13) == len(FIGURES)  # pictures
    assert_deck_is_legible(report["slides"])
