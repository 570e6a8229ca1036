"""The reasoning study's report from a small results set written here, in the pipeline's
formats: experiments.csv (five experiments: a baseline, two suites and one experiment that
no suite lists; one published reference value) and a metrics.csv per experiment.

The sentences the section must state are written out by hand below (not by the section's
code): what differs from the baseline, and how many points of exact accuracy it gains or
loses.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT, assert_deck_is_legible
from test_report import deck_texts, pdf_text, run

FIGURES = ["accuracy_by_suite", "learning_curves", "params_vs_accuracy", "tn_heatmap"]
BASE = {"suites": "recursion ema", "leads": "recursion ema", "baseline": True, "dataset": "sudoku-4x4", "board": "4x4", "train_puzzles": 6,
        "train_examples": 18, "arch": "trm", "mixer": "mlp_t", "act": "halt", "T": 2, "n": 2, "Nsup": 4,
        "L_layers": 2, "H_layers": math.nan, "hidden": 64, "puzzle_emb_len": 16, "batch": 128, "lr": 3e-3,
        "ema": 0.99, "epochs": 14, "warmup_steps": 20, "weight_decay": 1.0, "precision": "fp32",
        "parameters": 104_000, "steps": 219, "train_seconds": 61.4, "device": "cpu", "world_size": 1,
        "exact_acc": 0.83, "token_acc": 0.95, "q_halt_acc": 0.9, "blank_acc": 0.91, "mean_steps": 2.5,
        "copy_exact_acc": 0.0, "copy_token_acc": 0.4375, "train_flops": 8.3e12, "ref_exact_acc": math.nan,
        "ref_source": ""}
# name: what differs from the baseline's row (the merge rule writes them in the config's order)
EXPERIMENTS = {
    "trm": {},
    "trm-T1n1": {"suites": "recursion", "leads": "", "T": 1, "n": 1, "exact_acc": 0.64, "train_flops": 4.1e12},
    "trm-ema-off": {"suites": "ema", "leads": "", "ema": math.nan, "exact_acc": 0.71},
    "hrm": {"suites": "", "leads": "", "arch": "hrm", "mixer": "attention", "act": "q_learning", "L_layers": 1, "H_layers": 1,
            "parameters": 208_000, "exact_acc": 0.5, "ref_exact_acc": 0.553,
            "ref_source": "HRM paper, Sudoku-Extreme 9x9"},
    "trm-T2n1": {"suites": "recursion", "leads": "", "n": 1, "exact_acc": 0.86},
}
# by hand: 64 - 83 = -19, 86 - 83 = +3, 71 - 83 = -12, 50 - 83 = -33 points
RECURSION = ["trm-T1n1 (T 2 -> 1, n 2 -> 1) loses 19.0 points of exact accuracy against trm (83.0% -> 64.0%).",
             "trm-T2n1 (n 2 -> 1) gains 3.0 points of exact accuracy against trm (83.0% -> 86.0%)."]
EMA = ["trm-ema-off (ema 0.99 -> off) loses 12.0 points of exact accuracy against trm (83.0% -> 71.0%)."]
OTHER = ["hrm (arch trm -> hrm, mixer mlp_t -> attention, act halt -> q_learning, L_layers 2 -> 1, H_layers none "
         "-> 1) loses 33.0 points of exact accuracy against trm (83.0% -> 50.0%).",
         "Reference only: HRM paper, Sudoku-Extreme 9x9 reports 55.3% exact accuracy for the setup of hrm; that is "
         "the paper's result on its own data and budget, not one of this campaign (ours: 50.0%)."]


def experiment_rows() -> pd.DataFrame:
    rows = []
    for name, change in EXPERIMENTS.items():
        row = {"experiment": name, **BASE, **change, "baseline": name == "trm"}
        row["flops_per_exact_point"] = row["train_flops"] / (100 * row["exact_acc"])
        rows.append(row)
    return pd.DataFrame(rows)


def write_results(root: Path, table: pd.DataFrame | None = None) -> dict:
    """experiments.csv, a metrics.csv per experiment (four evaluations rising to a peak one
    before the last), and the dataset the experiments name."""
    from tinyscale.reasoning import dataset
    table = experiment_rows() if table is None else table
    experiments = root / "reasoning/experiments.csv"
    experiments.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(experiments, index=False)
    metrics = []
    for r in table.itertuples():
        steps = np.array([50, 100, 150, 219])
        exact = np.array([0.2, 0.6, r.exact_acc + 0.02, r.exact_acc])
        path = root / "reasoning" / r.experiment / "metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"step": steps, "lr": 3e-3, "train_token_acc": 0.9, "train_exact_acc": exact,
                      "train_q_halt_acc": 0.8, "train_steps": 2.0, "train_lm_loss": np.linspace(1.5, 0.4, 4),
                      "train_blank_acc": 0.85, "test_token_acc": 0.9, "test_exact_acc": exact,
                      "test_q_halt_acc": 0.8, "test_steps": 2.5, "test_lm_loss": np.linspace(1.6, 0.5, 4),
                      "test_blank_acc": 0.85}).to_csv(path, index=False)
        metrics.append(path)
    data = root / "reasoning/data/sudoku-4x4"
    if not data.exists():
        dataset.build_from_spec(data, {"source": "generate", "size": 4, "givens": [6, 8], "train_puzzles": 6,
                                       "test_puzzles": 4, "augmentations": 2}, seed=0)
    datasets = sorted(str(p) for p in data.glob("*/*") if p.parent.name in ("train", "test"))
    return {"experiments": experiments, "metrics": metrics, "datasets": datasets}


def draw(files: dict, out: Path, names=FIGURES, *extra, check: bool = True):
    outs = [out / f"{n}.{ext}" for n in names for ext in ("png", "svg")]
    proc = run("reasoning/figures.py", "--experiments", files["experiments"], "--metrics", *files["metrics"],
               *extra, "--out", *outs, check=check)
    return proc, {n: out / f"{n}.png" for n in names}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("reasoning")
    return {**write_results(root), "root": root}


@pytest.fixture
def table(results):
    from tinyscale.reasoning.report import load_experiments
    return load_experiments(results["experiments"])


# ---------------------------------------------------------------- the sentences and tables

def test_each_suite_has_its_sentences_against_the_baseline(table):
    from tinyscale.reasoning.report import suite_sentences
    assert suite_sentences(table, "recursion") == RECURSION
    assert suite_sentences(table, "ema") == EMA
    assert suite_sentences(table, "other") == OTHER


def test_differences_name_the_settings_that_differ(table):
    from tinyscale.reasoning.report import baseline, comparison, differences
    rows = table.set_index("experiment", drop=False)
    base = baseline(table)
    assert differences(base, base) == []
    assert differences(rows.loc["trm-ema-off"], base) == [("ema", "0.99", "off")]
    # H_layers shapes HRM alone: between two TRMs it is no difference
    t1n1 = rows.loc["trm-T1n1"].copy()
    t1n1["H_layers"] = 4
    assert [k for k, _, _ in differences(t1n1, base)] == ["T", "n"]
    other = rows.loc["trm-T2n1"].copy()
    other["lr"], other["weight_decay"], other["exact_acc"] = 1e-3, 0.1, 0.83
    assert comparison(other, base) == ("trm-T2n1 (n 2 -> 1, lr 0.003 -> 0.001, weight_decay 1 -> 0.1) matches the "
                                       "exact accuracy of trm (83.0% against 83.0%).")
    same = base.copy()
    same["experiment"], same["exact_acc"] = "trm-again", 0.855
    assert comparison(same, base) == ("trm-again (no setting differs) gains 2.5 points of exact accuracy against "
                                      "trm (83.0% -> 85.5%).")


def test_suites_group_in_order_with_the_baseline_first_and_marked(table):
    from tinyscale.reasoning.report import REFERENCE, suite_table, suites
    # suites in order of first appearance (the baseline's row names both); hrm is in none
    assert suites(table) == {"recursion": ["trm", "trm-T1n1", "trm-T2n1"], "ema": ["trm", "trm-ema-off"],
                             "other": ["trm", "hrm"]}
    recursion = suite_table(table, "recursion")
    assert recursion["experiment"].tolist() == ["trm (baseline)", "trm-T1n1", "trm-T2n1"]
    assert recursion["vs baseline"].tolist() == ["\u2013", "T 1, n 1", "n 1"]
    assert recursion["exact"].tolist() == ["83.0%", "64.0%", "86.0%"]
    assert REFERENCE not in recursion.columns  # no row of the suite has a paper's value
    other = suite_table(table, "other")
    assert other[REFERENCE].tolist() == ["\u2013", "55.3%"] and "reference" in REFERENCE
    assert other["vs baseline"].tolist() == ["\u2013", "arch hrm, mixer attention +3"]
    # FLOPs per point of exact accuracy: 8.3e12 / 83 = 1.0e11
    assert suite_table(table, "ema")["FLOPs / pt"].iat[0] == "1.00e11"


def test_a_table_without_suites_puts_everything_in_other(tmp_path):
    from tinyscale.reasoning.report import load_experiments, suites
    rows = experiment_rows().assign(suites="", leads="")
    rows.to_csv(tmp_path / "experiments.csv", index=False)
    assert suites(load_experiments(tmp_path / "experiments.csv")) == {
        "other": ["trm", "trm-T1n1", "trm-ema-off", "hrm", "trm-T2n1"]}


def test_a_suite_is_compared_with_its_first(tmp_path):
    """A suite led by another experiment than the study's baseline (seed 002's suites
    against HRM) compares its others with that one."""
    from tinyscale.reasoning.report import load_experiments, suite_sentences, suite_table, suites
    rows = experiment_rows()
    rows.loc[rows["experiment"] == "hrm", ["suites", "leads"]] = "arch"
    rows.loc[rows["experiment"] == "trm-T2n1", "suites"] = "recursion arch"
    rows.to_csv(tmp_path / "experiments.csv", index=False)
    table = load_experiments(tmp_path / "experiments.csv")
    assert suites(table)["arch"] == ["hrm", "trm-T2n1"]
    assert suite_table(table, "arch")["experiment"].tolist() == ["hrm (baseline)", "trm-T2n1"]
    assert suite_sentences(table, "arch")[0].startswith(
        "trm-T2n1 (arch hrm -> trm, mixer attention -> mlp_t, act q_learning -> halt, n 2 -> 1, L_layers 1 -> 2, "
        "H_layers 1 -> none) gains 36.0 points of exact accuracy against hrm (50.0% -> 86.0%).")


def test_one_experiment_and_no_suite_reads_as_the_baseline_alone(results, tmp_path):
    """The tiny config's campaign: one experiment, no suites. It is the baseline, alone under
    "other", with no sentence to state; every figure still draws."""
    import matplotlib.pyplot as plt

    from tinyscale.reasoning import figures
    from tinyscale.reasoning.report import load_experiments, load_metrics, suite_sentences, suite_table, suites
    path = tmp_path / "experiments.csv"
    experiment_rows().iloc[[0]].assign(suites="", leads="").to_csv(path, index=False)
    table = load_experiments(path)
    assert suites(table) == {"other": ["trm"]} and suite_sentences(table, "other") == []
    assert suite_table(table, "other")["experiment"].tolist() == ["trm (baseline)"]
    for fig in (figures.accuracy_by_suite(table), figures.params_vs_accuracy(table),
                figures.tn_heatmap(table, figures.default_tn_grid(table)),
                figures.learning_curves(load_metrics(results["metrics"][:1], table), table)):
        plt.close(fig)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns=["ref_source"]), "missing column(s) ref_source"),
    (lambda t: t.assign(baseline=False), "0 rows have baseline True, expected exactly one"),
    (lambda t: pd.concat([t, t.iloc[[1]]]), "experiment(s) trm-T1n1 appear in more than one row"),
])
def test_a_bad_experiments_table_is_one_clear_error(tmp_path, change, message):
    from tinyscale.errors import ResultsError
    from tinyscale.reasoning.report import load_experiments
    path = tmp_path / "experiments.csv"
    change(experiment_rows()).to_csv(path, index=False)
    with pytest.raises(ResultsError, match=f"^{path}: " + message.replace("(", r"\(").replace(")", r"\)")):
        load_experiments(path)


# ---------------------------------------------------------------- figures

def test_the_cli_draws_every_figure_as_png_and_svg(results):
    from PIL import Image
    _, pngs = draw(results, results["root"] / "figures", FIGURES, "--tn-grid", "trm", "trm-T1n1", "trm-T2n1")
    for name, png in pngs.items():
        with Image.open(png) as im:
            pixels = np.asarray(im.convert("L"))
        assert pixels.shape[1] > 600 and (pixels < 200).mean() > 0.01, name
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml"), name
    results["figures"] = pngs


def test_figures_are_reproducible(results, tmp_path):
    _, first = draw(results, tmp_path / "a", ["accuracy_by_suite", "tn_heatmap"])
    _, again = draw(results, tmp_path / "b", ["accuracy_by_suite", "tn_heatmap"])
    for name in first:
        assert first[name].read_bytes() == again[name].read_bytes(), name
        assert first[name].with_suffix(".svg").read_bytes() == again[name].with_suffix(".svg").read_bytes(), name


def test_the_suite_figure_marks_the_baseline_and_shows_paper_values_only_as_references(table):
    from tinyscale.reasoning import figures
    fig = figures.accuracy_by_suite(table)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["recursion", "ema", "other"]
    for ax in axes:
        first = ax.patches[0]
        assert first.get_gid() == f"{ax.get_title()}: trm" and first.get_hatch() == "//"
        assert "(baseline)" in ax.get_xticklabels()[0].get_text()
    heights = {p.get_gid(): p.get_height() for ax in axes for p in ax.patches}
    assert heights["other: hrm"] == pytest.approx(50.0) and 55.3 not in [round(h, 1) for h in heights.values()]
    refs = [ln for ax in axes for ln in ax.get_lines() if (ln.get_gid() or "").startswith("reference")]
    assert [(ln.get_gid(), ln.get_ydata()[0]) for ln in refs] == [("reference: hrm", pytest.approx(55.3))]
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert any(label.startswith("paper (reference)") for label in labels)
    assert "copying the givens: exact 0%, token 43.8%" in labels


def test_the_tn_grid_leaves_unrun_cells_blank(table):
    from tinyscale.errors import ResultsError
    from tinyscale.reasoning import figures
    assert figures.default_tn_grid(table) == ["trm", "trm-T1n1", "trm-T2n1"]
    fig = figures.tn_heatmap(table, ["trm", "trm-T1n1", "trm-T2n1"])
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    # T in {1, 2} x n in {1, 2}: T=1, n=2 ran in no experiment
    assert sorted(texts) == sorted(["64.0%\ntrm-T1n1", "86.0%\ntrm-T2n1", "83.0%\ntrm\n(baseline)"])
    assert np.isnan(ax.collections[0].get_array().reshape(2, 2)[0, 1]) or \
        np.ma.is_masked(ax.collections[0].get_array().reshape(2, 2)[0, 1])
    with pytest.raises(ResultsError, match="trm-T1n1 and trm-copy both have T=1, n=1"):
        figures.tn_heatmap(pd.concat([table, table.iloc[[1]].assign(experiment="trm-copy", baseline=False)]),
                           ["trm-T1n1", "trm-copy"])


def test_params_against_accuracy_labels_every_experiment(table):
    from tinyscale.reasoning import figures
    fig = figures.params_vs_accuracy(table)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.texts]
    assert sorted(labels) == sorted(["trm (baseline)", "trm-T1n1", "trm-ema-off", "hrm", "trm-T2n1"])
    # four TRMs of 104k parameters: their labels stand at least 6 points apart
    heights = sorted(t.get_position()[1] for t in ax.texts if t.get_text() != "hrm")
    assert min(np.diff(heights)) >= 6 - 1e-9


def test_learning_curves_draw_a_line_per_experiment(results, table):
    from tinyscale.reasoning import figures
    from tinyscale.reasoning.report import load_metrics
    fig = figures.learning_curves(load_metrics(results["metrics"], table), table)
    exact, loss = fig.axes[:2]
    assert [ln.get_gid() for ln in exact.get_lines()] == table["experiment"].tolist()
    assert exact.get_lines()[0].get_ydata()[-1] == pytest.approx(83.0)
    assert "loss" in loss.get_ylabel()


def test_the_cli_names_the_file_that_lacks_a_column(results, tmp_path):
    broken = tmp_path / "experiments.csv"
    pd.read_csv(results["experiments"]).drop(columns=["exact_acc"]).to_csv(broken, index=False)
    proc, pngs = draw({**results, "experiments": broken}, tmp_path / "figures", ["accuracy_by_suite"], check=False)
    assert proc.returncode == 2
    assert f"error: {broken}: missing column(s) exact_acc" in proc.stderr
    assert not pngs["accuracy_by_suite"].exists()


def test_the_cli_names_a_metrics_file_of_an_unknown_experiment(results, tmp_path):
    stray = tmp_path / "trm-gone" / "metrics.csv"
    stray.parent.mkdir()
    stray.write_text(Path(results["metrics"][0]).read_text())
    proc, _ = draw({**results, "metrics": [*results["metrics"], stray]}, tmp_path / "figures", ["learning_curves"],
                   check=False)
    assert proc.returncode == 2
    assert f"error: {stray}: experiment trm-gone (its folder's name) is not in experiments.csv" in proc.stderr


def test_the_cli_refuses_an_unknown_figure(results, tmp_path):
    proc, _ = draw(results, tmp_path, ["accuracy_by_suite", "verified_vs_eps"], check=False)
    assert proc.returncode == 2 and "no figure named verified_vs_eps" in proc.stderr


# ---------------------------------------------------------------- the section: PDF and deck

def _section_inputs(results: dict, figures: dict[str, Path]) -> dict:
    """The section's inputs, as rules/reasoning.smk gives them (captions relative to workflow/report/)."""
    return {"datasets": results["datasets"], "experiments": [str(results["experiments"])],
            "metrics": list(map(str, results["metrics"])), "figures": [str(figures[n]) for n in FIGURES],
            "captions": [f"reasoning/{n}.rst" for n in FIGURES]}


@pytest.fixture(scope="module")
def report(results):
    from tinyscale import io
    from tinyscale.report import provenance
    figures = results.get("figures") or draw(results, results["root"] / "figures", FIGURES)[1]
    record = provenance.collect({"name": "reasoningset", "seed": 0}, [], ROOT, "snakemake reports",
                                {"reasoning training": [str(results["experiments"])]})
    io.write_json(results["root"] / "provenance.json", record)
    out = {}
    for kind, name in (("pdf", "report.pdf"), ("slides", "slides.pptx")):
        out[kind] = results["root"] / "report" / name
        run("report.py", kind, "--sections", json.dumps({"reasoning": _section_inputs(results, figures)}),
            "--workflow-dir", ROOT / "workflow", "--provenance", results["root"] / "provenance.json",
            "--out", out[kind])
    return out


def test_the_pdf_states_each_suite_its_table_and_its_sentences(report):
    text = pdf_text(report["pdf"])
    for sentence in RECURSION + EMA + OTHER:
        assert sentence in text, sentence
    for suite in ("Suite recursion", "Suite ema", "Suite other"):
        assert suite in text
    assert "trm (baseline)" in text and "paper (reference)" in text
    assert "not a result of this campaign" in text
    # the learning curves' table: trm peaked at 85.0% at step 150, before its last evaluation
    assert "trm 4 85.0% 150 83.0% 219" in text
    for n in range(1, 5):
        assert f"Figure {n}." in text
    assert "reference values only" in text or "reference value only" in text


def test_the_deck_has_a_slide_per_suite_and_per_figure(report):
    texts = deck_texts(report["slides"])
    titles = [t for t in texts if t.startswith("Reasoning: suite")]
    assert [t.split(" against")[0] for t in titles] == ["Reasoning: suite recursion", "Reasoning: suite ema",
                                                         "Reasoning: suite other"]
    assert RECURSION[0] in titles[0] and EMA[0] in titles[1]
    from pptx import Presentation
    slides = list(Presentation(report["slides"]).slides)
    tables = [[[c.text for c in row.cells] for row in sh.table.rows] for s in slides for sh in s.shapes
              if sh.has_table]
    other = next(t for t in tables if any(r[0] == "hrm" for r in t))
    assert other[0][-1] == "paper (reference)" and other[2][-1] == "55.3%"
    assert sum(1 for s in slides for sh in s.shapes if sh.shape_type == 13) == len(FIGURES)  # pictures


def test_the_deck_keeps_its_shapes_on_the_slide_apart_and_legible(report):
    assert_deck_is_legible(report["slides"])


def test_the_section_without_a_caption_is_one_clear_error(results, tmp_path):
    from tinyscale.errors import ResultsError
    from tinyscale.reasoning.report import section
    figures = {n: tmp_path / f"{n}.png" for n in FIGURES}
    inputs = _section_inputs(results, figures)
    inputs["captions"] = [str(ROOT / "workflow/report" / c) for c in inputs["captions"][:-1]]
    with pytest.raises(ResultsError, match="no caption for figure.s. tn_heatmap"):
        section(inputs, {})
