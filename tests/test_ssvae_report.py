"""The SSVAE study's figures and report section from a small results set written here, in the
pipeline's formats (tinyscale.ssvae.results' grid.csv and summary.csv layouts): seeds 0 and 1;
n_labels 20, 50, 200 x alpha 1, 50 at no corruption, and corruption 0, 0.2, 0.5 at 200 labels
and alpha 50.

The accuracies are round numbers chosen here so that the sentences can be written out by hand
below (the standard deviation of two seeds a and b is |a - b| / sqrt 2: 0.04 apart is 0.028).
They are chosen so that accuracy does not move the same way at every step (alpha 1 falls from
50 to 200 labels, alpha 50's accuracy rises again from corruption 0.2 to 0.5): the section must
say so rather than the expected direction.
"""
from __future__ import annotations

import runpy
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT, SCRIPTS, assert_deck_is_legible, build_reports, write_scaling
from test_report import deck_texts, pdf_text

FIGURES = ["accuracy_vs_labels", "accuracy_vs_corruption", "disentanglement"]
# (n_labels, corruption, alpha): test accuracy of seeds 0 and 1
ACCURACY = {(20, 0.0, 1.0): (0.30, 0.34), (50, 0.0, 1.0): (0.60, 0.50), (200, 0.0, 1.0): (0.52, 0.56),
            (20, 0.0, 50.0): (0.40, 0.44), (50, 0.0, 50.0): (0.70, 0.74), (200, 0.0, 50.0): (0.90, 0.92),
            (200, 0.2, 50.0): (0.80, 0.84), (200, 0.5, 50.0): (0.84, 0.88)}
# the mean over seeds of each disentanglement score (the seeds: mean -+ 0.01, MIG -+ 0.002)
SCORES = {(20, 0.0, 1.0): (0.35, 0.60, 0.060), (50, 0.0, 1.0): (0.30, 0.55, 0.050),
          (200, 0.0, 1.0): (0.25, 0.50, 0.040), (20, 0.0, 50.0): (0.30, 0.50, 0.050),
          (50, 0.0, 50.0): (0.20, 0.40, 0.040), (200, 0.0, 50.0): (0.10, 0.30, 0.020),
          (200, 0.2, 50.0): (0.15, 0.35, 0.030), (200, 0.5, 50.0): (0.22, 0.45, 0.035)}
SUMMARY = [
    "16 runs: 8 configurations of n_labels (20–200), corruption rate (0–0.5) and alpha (1–50), 2 seeds each "
    "(seeds 0, 1); digits, 40 epochs, balanced labelled sets.",
    "At alpha 50 without corruption, mean test accuracy rises from 0.420 ± 0.028 (n=2) with 20 labels to "
    "0.910 ± 0.014 (n=2) with 200 labels (+0.490), at every step.",
    "At the other alpha, mean test accuracy from the fewest to the most labels: alpha 1 0.320 (20 labels) to "
    "0.540 (200 labels), +0.220, not at every step.",
    "Between the alphas, mean test accuracy differs most with 200 labels: 0.910 at alpha 50 against 0.540 at "
    "alpha 1 (0.370 apart, over 2 alphas).",
    "With 200 labels at alpha 50, mean test accuracy falls from 0.910 ± 0.014 (n=2) at corruption 0 to "
    "0.860 ± 0.028 (n=2) at corruption 0.5 (-0.050), though not at every step: it rises from 0.820 at corruption "
    "0.2 to 0.860 at corruption 0.5; wrong labels (of 200): 40 at corruption 0.2, 100 at 0.5.",
    "The style latent's disentanglement scores (means over seeds) span beta-VAE 0.100–0.350, Factor-VAE "
    "0.300–0.600, MIG 0.020–0.060 over the configurations; at alpha 50 from 20 to 200 labels: beta-VAE 0.300 to "
    "0.100, Factor-VAE 0.500 to 0.300, MIG 0.050 to 0.020.",
    "The highest mean test accuracy is 0.910 ± 0.014 at 200 labels, corruption 0, alpha 50 (n=2); the lowest "
    "0.320 ± 0.028 at 20 labels, corruption 0, alpha 1 (n=2).",
    "A run trained in 12.0 s on average (10.0–14.0 s; cpu, 1 process). Scaling runs: 1,000 images/s on 1xcpu to "
    "1,600 on 2xcpu (speed-up 1.60, efficiency 80%).",
]


def grid_rows(accuracy=ACCURACY) -> pd.DataFrame:
    from tinyscale.ssvae.results import COLUMNS
    rows = []
    for (n, c, a), accs in accuracy.items():
        beta, factor, mig = SCORES[n, c, a]
        for seed, acc in enumerate(accs):
            sign = 2 * seed - 1
            rows.append({"dataset": "digits", "n_labels": n, "corruption_rate": c, "alpha": a, "seed": seed,
                         "final_test_accuracy": acc, "final_test_elbo": -30.0 - n / 100 + sign * 0.5,
                         "beta_vae": beta + 0.01 * sign, "factor_vae": factor + 0.01 * sign, "mig": mig + 0.002 * sign,
                         "labelled_sha256": f"{n:064x}", "labelled": n, "corrupted": round(c * n),
                         "label_scheme": "balanced", "epochs": 40, "device": "cpu", "world_size": 1,
                         "seconds": 10.0 + 4 * seed})
    return pd.DataFrame(rows, columns=COLUMNS)


def write_results(root, accuracy=ACCURACY) -> dict:
    """grid.csv, summary.csv and scaling/scaling.csv in results/ssvae/'s layout under ``root``."""
    from tinyscale.ssvae.results import summary_table

    files = {"grid": root / "grid.csv", "summary": root / "summary.csv", "scaling": root / "scaling/scaling.csv"}
    grid = grid_rows(accuracy)
    grid.to_csv(files["grid"], index=False)
    summary_table(grid).to_csv(files["summary"], index=False)
    write_scaling(files["scaling"], "ssvae", 64, 1438, 300.0)
    return files


def inputs(files: dict, figures: dict | None = None) -> dict:
    """The section's inputs, as the rules give them (captions: full paths here)."""
    out = {k: [str(files[k])] for k in ("grid", "summary", "scaling")}
    if figures:
        out["figures"] = [str(figures[n]) for n in FIGURES]
        out["captions"] = [str(ROOT / "workflow/report/ssvae" / f"{n}.rst") for n in FIGURES]
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("ssvae"))


@pytest.fixture(scope="module")
def section(files):
    from tinyscale.ssvae.report import section
    return section(inputs(files), {})


# ---------------------------------------------------------------- sentences and tables

def test_the_summary_states_the_numbers_of_the_files(section):
    assert section.summary() == SUMMARY
    assert section.one_line() == ("a semi-supervised VAE over 8 configurations (2 seeds each); at alpha 50 mean test "
                                  "accuracy 0.420 with 20 labels, 0.910 with 200")
    assert dict(section.facts()) == {
        "ssvae grid": "16 runs: 8 configurations x 2 seeds each; n_labels 20–200, corruption 0–0.5, alpha 1–50",
        "ssvae training": "digits, 40 epochs, balanced labelled sets"}


def test_the_sentences_numbers_are_the_csvs(files, section):
    """Recomputed from grid.csv here, not from the section's tables."""
    grid = pd.read_csv(files["grid"])
    acc = grid.groupby(["n_labels", "corruption_rate", "alpha"])["final_test_accuracy"].agg(["mean", "std", "size"])
    lines = section.summary()
    for key, sentence, words in (((20, 0.0, 50.0), 1, "with 20 labels"), ((200, 0.0, 50.0), 1, "with 200 labels"),
                                 ((200, 0.5, 50.0), 4, "at corruption 0.5")):
        m, s, n = acc.loc[key]
        assert f"{m:.3f} ± {s:.3f} (n={int(n)}) {words}" in lines[sentence]
    rise = acc.loc[(200, 0.0, 50.0), "mean"] - acc.loc[(20, 0.0, 50.0), "mean"]
    assert f"(+{rise:.3f})" in lines[1]
    fall = acc.loc[(200, 0.5, 50.0), "mean"] - acc.loc[(200, 0.0, 50.0), "mean"]
    assert fall < 0 and "falls from" in lines[4] and f"(-{-fall:.3f})" in lines[4]
    assert f"{grid['seconds'].mean():.1f} s on average" in lines[-1]


def test_the_sentences_follow_the_files_whichever_way_accuracy_moves(tmp_path):
    """Accuracy that falls with more labels and rises with corruption is said to, with its numbers."""
    from tinyscale.ssvae.report import section
    flipped = {**ACCURACY, (20, 0.0, 50.0): (0.90, 0.92), (200, 0.0, 50.0): (0.40, 0.44),
               (200, 0.2, 50.0): (0.60, 0.64), (200, 0.5, 50.0): (0.95, 0.97)}
    lines = section(inputs(write_results(tmp_path, flipped)), {}).summary()
    assert lines[1] == ("At alpha 50 without corruption, mean test accuracy falls from 0.910 ± 0.014 (n=2) with 20 "
                        "labels to 0.420 ± 0.028 (n=2) with 200 labels (-0.490), at every step.")
    assert lines[4].startswith("With 200 labels at alpha 50, mean test accuracy rises from 0.420 ± 0.028 (n=2) at "
                               "corruption 0 to 0.960 ± 0.014 (n=2) at corruption 0.5 (+0.540), at every step;")


def test_the_tables_hold_every_configuration(section):
    from tinyscale.ssvae.report import configuration_table, corruption_table, labels_table
    assert labels_table(section.s).values.tolist() == [
        ["1", "0.320 ± 0.028 (n=2)", "0.550 ± 0.071 (n=2)", "0.540 ± 0.028 (n=2)"],
        ["50", "0.420 ± 0.028 (n=2)", "0.720 ± 0.028 (n=2)", "0.910 ± 0.014 (n=2)"]]
    assert list(labels_table(section.s).columns) == ["alpha", "20 labels", "50 labels", "200 labels"]
    assert corruption_table(section.s, section.grid).values.tolist() == [
        ["0", "0.910 ± 0.014 (n=2), 0 wrong"], ["0.2", "0.820 ± 0.028 (n=2), 40 wrong"],
        ["0.5", "0.860 ± 0.028 (n=2), 100 wrong"]]
    configs = configuration_table(section.s)
    assert len(configs) == 8 and list(configs.columns) == ["labels", "corruption", "alpha", "seeds", "beta-VAE",
                                                           "Factor-VAE", "MIG", "test ELBO"]
    assert configs.iloc[-1].tolist() == [200, "0.5", "50", 2, "0.220 ± 0.014", "0.450 ± 0.014", "0.035 ± 0.003",
                                         "-32.0 ± 0.7"]
    assert section.scaling[["devices", "images/s", "speed-up", "efficiency"]].values.tolist() == [
        ["1xcpu", "1,000", "1.00", "100%"], ["2xcpu", "1,600", "1.60", "80%"]]
    assert section.shared == ["2xcpu"] and "Runs on 2xcpu had less than 90% of a core" in section.scaling_note()


def test_one_seed_has_no_spread_and_no_scaling_says_less(files, tmp_path):
    from tinyscale.ssvae.report import section
    from tinyscale.ssvae.results import summary_table
    grid = pd.read_csv(files["grid"])
    grid = grid[grid["seed"] == 0]
    paths = {"grid": tmp_path / "grid.csv", "summary": tmp_path / "summary.csv"}
    grid.to_csv(paths["grid"], index=False)
    summary_table(grid).to_csv(paths["summary"], index=False)
    lines = section({k: [str(p)] for k, p in paths.items()} | {"scaling": []}, {}).summary()
    assert lines[1] == ("At alpha 50 without corruption, mean test accuracy rises from 0.400 (n=1) with 20 labels to "
                        "0.900 (n=1) with 200 labels (+0.500), at every step.")
    assert lines[-1] == "A run trained in 10.0 s on average (10.0–10.0 s; cpu, 1 process)."


@pytest.mark.parametrize("name, column", [("grid", "final_test_accuracy"), ("grid", "corrupted"),
                                          ("summary", "mig_std"), ("summary", "seeds"), ("scaling", "samples")])
def test_a_missing_column_is_one_error_naming_the_file(files, tmp_path, name, column):
    from tinyscale.errors import ResultsError
    from tinyscale.ssvae.report import section
    broken = tmp_path / files[name].name
    pd.read_csv(files[name]).drop(columns=[column]).to_csv(broken, index=False)
    with pytest.raises(ResultsError, match=f"^{broken}: missing column\\(s\\) {column}$"):
        section({**inputs(files), name: [str(broken)]}, {})


def test_a_blank_score_is_an_error_naming_the_file_and_row(files, tmp_path):
    from tinyscale.errors import ResultsError
    from tinyscale.ssvae.report import section
    broken = tmp_path / "grid.csv"
    grid = pd.read_csv(files["grid"])
    grid.loc[2, "final_test_accuracy"] = None
    grid.to_csv(broken, index=False)
    with pytest.raises(ResultsError, match=f"^{broken}: column final_test_accuracy has no number in row 3"):
        section({**inputs(files), "grid": [str(broken)]}, {})


def test_a_summary_of_another_grid_is_an_error_naming_both(files, tmp_path):
    from tinyscale.errors import ResultsError
    from tinyscale.ssvae.report import section
    stale = tmp_path / "summary.csv"
    summary = pd.read_csv(files["summary"])
    summary.loc[0, "final_test_accuracy_mean"] += 0.1
    summary.iloc[1:].to_csv(stale, index=False)
    with pytest.raises(ResultsError, match=f"^{stale}: not the summary of {files['grid']} \\(1 configuration\\(s\\) "
                                           "only in grid.csv, e.g. n_labels 20, corruption 0, alpha 1\\)"):
        section({**inputs(files), "summary": [str(stale)]}, {})
    summary.to_csv(stale, index=False)
    with pytest.raises(ResultsError, match="n_labels 20, corruption 0, alpha 1: 2 run\\(s\\) of mean accuracy 0.3200"):
        section({**inputs(files), "summary": [str(stale)]}, {})


# ---------------------------------------------------------------- figures

@pytest.fixture(scope="module")
def drawn(files):
    """The three figures, drawn by the CLI as the rule calls it (in this process: it is quick)."""
    out = files["grid"].parent / "figures"
    outs = [str(out / f"{n}.{ext}") for n in FIGURES for ext in ("png", "svg")]
    script = runpy.run_path(str(SCRIPTS / "ssvae/figures.py"))
    argv = sys.argv
    sys.argv = ["figures.py", "--grid", str(files["grid"]), "--summary", str(files["summary"]), "--out", *outs]
    try:
        script["main"]()
    finally:
        sys.argv = argv
    return {n: out / f"{n}.png" for n in FIGURES}


def test_the_figure_names_are_the_clis(drawn):
    from tinyscale.ssvae.figures import FIGURE_NAMES
    assert FIGURE_NAMES == FIGURES


def test_the_cli_draws_every_figure_as_png_and_svg(drawn):
    from PIL import Image
    for name, png in drawn.items():
        with Image.open(png) as im:
            pixels = np.asarray(im.convert("L"))
        assert pixels.shape[1] > 600 and (pixels < 200).mean() > 0.01, name
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml"), name


def test_the_cli_names_a_figure_it_does_not_draw(files, tmp_path):
    script = runpy.run_path(str(SCRIPTS / "ssvae/figures.py"))
    argv = sys.argv
    sys.argv = ["figures.py", "--grid", str(files["grid"]), "--summary", str(files["summary"]), "--out",
                str(tmp_path / "loss.png"), str(tmp_path / "loss.svg")]
    try:
        with pytest.raises(SystemExit):
            script["main"]()
    finally:
        sys.argv = argv
    assert not list(tmp_path.iterdir())


def _lines(ax) -> dict:
    return {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}


def test_the_figures_draw_what_the_files_hold(section):
    import matplotlib.pyplot as plt

    from tinyscale.ssvae import figures
    fig = figures.accuracy_vs_labels(section.s)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    lines = _lines(ax)
    assert set(lines) == {"alpha 1", "alpha 50"}
    assert list(lines["alpha 50"].get_xdata()) == [20, 50, 200]
    assert list(lines["alpha 50"].get_ydata()) == pytest.approx([0.42, 0.72, 0.91])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["α = 1 (2 seeds)", "α = 50 (2 seeds)"]
    plt.close(fig)
    fig = figures.accuracy_vs_corruption(section.s)
    lines = _lines(fig.axes[0])
    assert set(lines) == {"n_labels 200 alpha 50"}
    assert list(lines["n_labels 200 alpha 50"].get_xdata()) == [0, 0.2, 0.5]
    assert list(lines["n_labels 200 alpha 50"].get_ydata()) == pytest.approx([0.91, 0.82, 0.86])
    plt.close(fig)
    fig = figures.disentanglement(section.s)
    assert [ax.get_title() for ax in fig.axes] == ["β-VAE score", "Factor-VAE score", "MIG (nats)"]
    assert list(_lines(fig.axes[2])["alpha 50"].get_ydata()) == pytest.approx([0.05, 0.04, 0.02])
    assert list(_lines(fig.axes[0])["alpha 1"].get_ydata()) == pytest.approx([0.35, 0.30, 0.25])
    plt.close(fig)


def test_a_grid_without_a_corruption_sweep_says_so_in_its_figure(section):
    import matplotlib.pyplot as plt

    from tinyscale.ssvae import figures
    fig = figures.accuracy_vs_corruption(section.s[section.s["corruption_rate"] == 0])
    assert "no corruption sweep" in fig.axes[0].texts[0].get_text() and not _lines(fig.axes[0])
    plt.close(fig)


# ---------------------------------------------------------------- the section: PDF and deck

@pytest.fixture(scope="module")
def report(files, drawn):
    from tinyscale.report import provenance, section
    record = provenance.collect({"name": "ssvaeset", "seed": 0}, [], ROOT, "snakemake reports",
                                {"ssvae grid": [str(files["grid"])], "ssvae scaling": [str(files["scaling"])]})
    part = section("ssvae", inputs(files, drawn), record)  # as the report script dispatches it
    return build_reports(part, record, files["grid"].parent)


def test_the_pdf_states_the_summary_tables_and_figures(report):
    text = pdf_text(report["pdf"])
    assert "Label robustness of a semi-supervised VAE (seed 004)" in text
    for sentence in SUMMARY:
        assert sentence in text, sentence
    assert "50 0.420 ± 0.028 (n=2) 0.720 ± 0.028 (n=2) 0.910 ± 0.014 (n=2)" in text   # alpha 50's row
    assert "0.5 0.860 ± 0.028 (n=2), 100 wrong" in text
    assert "200 0.5 50 2 0.220 ± 0.014 0.450 ± 0.014 0.035 ± 0.003 -32.0 ± 0.7" in text
    for n in range(1, len(FIGURES) + 1):
        assert f"Figure {n}." in text
    assert "TODO" not in text


def test_the_deck_has_its_slides_and_keeps_shapes_on_the_slide_apart(report):
    from pptx import Presentation
    texts = deck_texts(report["slides"])
    summary = " ".join(t for t in texts if t.startswith("SSVAE: summary"))
    for sentence in SUMMARY:
        assert sentence in summary, sentence
    assert any(t.startswith("SSVAE: disentanglement per configuration") for t in texts)
    deck = Presentation(report["slides"])
    assert sum(1 for s in deck.slides for sh in s.shapes if sh.shape_type == 13) == len(FIGURES)  # pictures
    assert_deck_is_legible(report["slides"])
