"""Reports from a small results set written here, in the pipeline's file formats.

The numbers the report must state are worked out by hand below (not by the
report's code): the PDF's extracted text, the deck's tables and the figures
are checked against them, and against a changed results file. The set has two
training seeds per model; a second report is built from seed 0 alone, to check
that a single seed reads as one run.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT, assert_deck_is_legible, run_in_process

SCRIPTS = ROOT / "workflow" / "scripts"
MODELS = ["trm_std", "trm_adv"]
SEEDS = [0, 1]
EPS = ["0.01", "0.02", "0.04"]
METHODS = {"ibp": "IBP", "crown": "CROWN", "alpha-crown": "alpha-CROWN"}
SAMPLES = 20
# verified samples of 20 per (model, method) and training seed, over EPS
VERIFIED = {
    ("trm_adv", "IBP"): {0: [6, 2, 0], 1: [4, 1, 0]},
    ("trm_adv", "CROWN"): {0: [16, 12, 2], 1: [14, 10, 1]},
    ("trm_adv", "alpha-CROWN"): {0: [18, 15, 4], 1: [17, 11, 2]},
    ("trm_std", "IBP"): {0: [1, 0, 0], 1: [2, 0, 0]},
    ("trm_std", "CROWN"): {0: [8, 2, 0], 1: [9, 4, 0]},
    ("trm_std", "alpha-CROWN"): {0: [10, 3, 0], 1: [12, 5, 1]},
}
FALSIFIED = {("trm_adv", 0): [0, 1, 6], ("trm_adv", 1): [0, 2, 8], ("trm_std", 0): [2, 6, 17],
             ("trm_std", 1): [1, 5, 15]}
# samples each checkpoint gets wrong at eps = 0 (misclassified in every cell of it)
MISCLASSIFIED = {("trm_adv", 0): {19}, ("trm_adv", 1): {19}, ("trm_std", 0): {19}, ("trm_std", 1): {18, 19}}
SECONDS = {"IBP": 0.001, "CROWN": 0.01, "alpha-CROWN": 0.1}
# clean and PGD accuracy, kept epoch of each checkpoint
ACCURACY = {("trm_std", 0): (0.961, 0.233, 6), ("trm_std", 1): (0.955, 0.211, 6),
            ("trm_adv", 0): (0.917, 0.706, 5), ("trm_adv", 1): (0.905, 0.688, 4)}
EVAL_ATTACK = {"eps": 0.1, "steps": 10, "step_size": 0.25, "random_start": True}
ADVERSARIAL = {"eps": 0.1, "steps": 5, "step_size": 0.25, "random_start": True, "clean_weight": 0.5}
SWEEP_ATTACK = {"steps": 20, "step_size": 0.25, "restarts": 1}
TEST_IMAGES = 360

# By hand, alpha-CROWN's verified share averaged over the two seeds (of 20):
#   trm_adv (18+17)/2 = 17.5 (87.5%), (15+11)/2 = 13 (65.0%), (4+2)/2 = 3 (15.0%)
#   trm_std (10+12)/2 = 11 (55.0%),   (3+5)/2 = 4 (20.0%),    (0+1)/2 = 0.5 (2.5%)
# leads 32.5, 45.0, 12.5 points: the largest at eps 0.02, where seed 0 has 15 vs 3 and seed 1 11 vs 5.
HEADLINE = ("At eps=0.02, the adversarially trained model trm_adv verifies 65.0% of the 20 samples (mean of 2 "
            "training seeds; 55.0–75.0%) against 20.0% (15.0–25.0%) for the standard model trm_std (alpha-CROWN "
            "bounds); trm_adv verifies more than trm_std on every training seed (seed 0: 15 vs 3, seed 1: 11 vs 5 "
            "of the 20 samples).")
# seed 0 alone: 15 vs 3 of 20 at eps 0.02 (leads 40, 60, 20 points)
HEADLINE_ONE_SEED = ("At eps=0.02, the adversarially trained model trm_adv verifies 75.0% of the 20 samples against "
                     "15.0% for the standard model trm_std (alpha-CROWN bounds).")
# scaling: 64 samples per run; two repeats per configuration at these throughputs (samples/s)
THROUGHPUT = {(1, 1): [32.0, 32.0], (1, 2): [49.0, 53.0], (2, 1): [56.0, 72.0]}
FIGURES = ["verified_vs_eps", "verified_heatmap", "verdicts", "convergence", "time_vs_eps", "memory_vs_eps",
           "training_curves", "scaling"]


def run(script: str, *args, check: bool = True) -> subprocess.CompletedProcess | None:
    """A script of workflow/scripts/: in this process when it must succeed (fixtures), else as a
    process of its own, whose exit status and stderr the test reads."""
    if check:
        run_in_process(script, *args)
        return None
    proc = subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed:\n{proc.stderr[-3000:]}")
    return proc


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[str, str]:
    """The Wilson score interval, from its formula, as the report prints it."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{100 * (centre - half):.1f}%", f"{100 * (centre + half):.1f}%"


def write_cells(root: Path, verified=VERIFIED, seeds=SEEDS) -> list[Path]:
    """Per-sample sweep cells whose verdict counts are the tables above, in a seeded order."""
    paths = []
    rng = np.random.default_rng(0)
    for model in MODELS:
        for seed in seeds:
            wrong = MISCLASSIFIED[model, seed]
            for key, method in METHODS.items():
                for i, eps in enumerate(EPS):
                    n_ver, n_fal = verified[model, method][seed][i], FALSIFIED[model, seed][i]
                    n_to = 2 if (model, seed, method, eps) == ("trm_adv", 0, "alpha-CROWN", "0.04") else 0
                    n_right = SAMPLES - len(wrong)
                    verdicts = list(rng.permutation(["verified"] * n_ver + ["falsified"] * n_fal + ["timeout"] * n_to
                                                    + ["unknown"] * (n_right - n_ver - n_fal - n_to)))
                    verdicts = [("misclassified" if s in wrong else verdicts.pop()) for s in range(SAMPLES)]
                    cell = pd.DataFrame({
                        "model": model, "train_seed": seed, "method": method, "epsilon": float(eps),
                        "sample": range(SAMPLES), "label": 3,
                        "prediction": [5 if s in wrong else 3 for s in range(SAMPLES)], "verdict": verdicts,
                        "lower_bound": 0.5, "attack_margin": 1.0, "seconds": SECONDS[method],
                        "bound_source": method,
                        "peak_mem_mb": {"IBP": 300.0, "CROWN": 400.0, "alpha-CROWN": 900.0}[method],
                        "device": "cpu", "world_size": 1, "seed": 0, "config": "reportset"})
                    path = root / "robustness/sweep" / f"{model}__seed{seed}__{key}__eps{eps}.csv"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    cell.to_csv(path, index=False)
                    paths.append(path)
    return paths


def write_scaling(root: Path, throughput=THROUGHPUT) -> Path:
    """Per-run scaling rows merged by the pipeline's script into scaling.csv."""
    runs = []
    for (nodes, procs), rates in throughput.items():
        for r, rate in enumerate(rates, 1):
            seconds = 64 / rate
            path = root / f"scaling/sweep/{nodes}n{procs}p_run{r}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame([{"timestamp": "2026-11-24T10:00:00", "config": "CROWN",
                           "devices": f"{procs}xcpu" if nodes == 1 else f"{nodes}x{procs}xcpu", "batch": 8,
                           "samples": 64, "avg_time_per_sample_s": seconds / 64, "total_time_s": seconds,
                           "gpu_mem_mb": 350.0, "notes": f"run{r}", "nodes": nodes, "procs_per_node": procs,
                           "world_size": nodes * procs, "passes": 1}]).to_csv(path, index=False)
            runs.append(path)
    scaling = root / "scaling/scaling.csv"
    run("scaling_table.py", "--out", scaling, *runs)
    return scaling


def write_results(root: Path, seeds=SEEDS) -> dict:
    """A complete small results set: cells, the merged sweep (by the pipeline's merge
    script), checkpoint records, histories, the scaling table and the provenance."""
    cells = write_cells(root, seeds=seeds)
    sweep = root / "robustness/sweep.csv"
    run("robustness/merge_sweep.py", "--out", sweep, *cells)
    ckpt = root / "robustness/checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    metrics, histories = [], []
    for model in MODELS:
        for seed in seeds:
            clean, pgd_acc, kept = ACCURACY[model, seed]
            adversarial = ADVERSARIAL if model == "trm_adv" else None
            m = ckpt / f"{model}__seed{seed}.json"
            m.write_text(json.dumps({"clean_acc": clean, "pgd_acc": pgd_acc, "kept_epoch": kept, "data": "digits",
                                     "seed": seed, "device": "cpu", "world_size": 1, "eval_attack": EVAL_ATTACK,
                                     "test_samples": TEST_IMAGES,
                                     "recipe": {"epochs": 6, "adversarial": adversarial}}))
            h = ckpt / f"{model}__seed{seed}_history.csv"
            pd.DataFrame({"epoch": range(1, 7), "lr": 1e-3, "loss": np.linspace(2.0, 0.3 + 0.1 * seed, 6),
                          "clean_acc": np.linspace(0.3, clean, 6), "pgd_acc": np.linspace(0.1, pgd_acc, 6)}).to_csv(
                h, index=False)
            metrics.append(m)
            histories.append(h)
    scaling = write_scaling(root)
    config = {"name": "reportset", "seed": 0, "training": {"seeds": list(seeds)},
              "robustness": {"attack": SWEEP_ATTACK}}
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    provenance = root / "report/provenance.json"
    run("provenance.py", "--config", json.dumps(config), "--config-files",
        json.dumps([{"path": str(config_file), "sha256": hashlib.sha256(Path(config_file).read_bytes()).hexdigest()}]), "--command",
        f"snakemake reports --configfile {config_file}", "--results",
        json.dumps({"robustness training": list(map(str, metrics)), "robustness verification": list(map(str, cells)),
                    "robustness scaling": [str(scaling)]}), "--out", provenance)
    return {"cells": cells, "sweep": sweep, "metrics": metrics, "histories": histories, "scaling": scaling,
            "provenance": provenance, "config": config, "config_file": config_file}


def build_figures(files: dict, out: Path) -> dict[str, Path]:
    outs = {name: [out / f"{name}.png", out / f"{name}.svg"] for name in FIGURES}
    groups = {"sweep": ["verified_vs_eps", "time_vs_eps", "memory_vs_eps", "verified_heatmap", "verdicts"]}
    models = ["--models", *MODELS]
    run("robustness/figures.py", "sweep", "--sweep", files["sweep"], *models, "--out", *sum((outs[n] for n in groups["sweep"]), []))
    run("robustness/figures.py", "training", "--metrics", *files["metrics"], "--histories", *files["histories"], *models,
        "--out", *outs["training_curves"])
    run("robustness/figures.py", "convergence", "--cells", *files["cells"], *models, "--out", *outs["convergence"])
    run("robustness/figures.py", "scaling", "--scaling", files["scaling"], "--out", *outs["scaling"])
    return {name: paths[0] for name, paths in outs.items()}


def report_args(kind: str, files: dict, figures: dict[str, Path], out: Path, provenance=None, sweep=None) -> list:
    """report.py's arguments for the robustness section alone (as rules/report.smk gives them)."""
    section = {"sweep": [str(sweep or files["sweep"])], "metrics": list(map(str, files["metrics"])),
               "scaling": [str(files["scaling"])], "figures": [str(figures[name]) for name in FIGURES],
               "captions": [f"robustness/{name}.rst" for name in FIGURES]}
    return [kind, "--sections", json.dumps({"robustness": section}), "--workflow-dir", ROOT / "workflow",
            "--provenance", provenance or files["provenance"], "--out", out]


def build_report(files: dict, figures: dict[str, Path], out: Path) -> tuple[Path, Path]:
    pdf, deck = out / "report.pdf", out / "slides.pptx"
    run("report.py", *report_args("pdf", files, figures, pdf))
    run("report.py", *report_args("slides", files, figures, deck))
    return pdf, deck


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(path).pages))


def deck_texts(path: Path) -> list[str]:
    from pptx import Presentation
    return [" ".join(sh.text_frame.text for sh in s.shapes if sh.has_text_frame) for s in Presentation(path).slides]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    files = write_results(root)
    figures = build_figures(files, root / "figures")
    pdf, deck = build_report(files, figures, root / "report")
    return {**files, "root": root, "figures": figures, "pdf": pdf, "deck": deck}


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory):
    """The same campaign with training seed 0 only."""
    root = tmp_path_factory.mktemp("one_seed")
    files = write_results(root, seeds=[0])
    figures = build_figures(files, root / "figures")
    pdf, deck = build_report(files, figures, root / "report")
    return {**files, "root": root, "figures": figures, "pdf": pdf, "deck": deck}


# ---------------------------------------------------------------- PDF

def test_pdf_summary_states_the_computed_comparison_over_seeds(report):
    text = pdf_text(report["pdf"])
    assert HEADLINE in text
    # alpha-CROWN against CROWN over the 12 cells: 37 + 30 + 13 + 18 = 98 against 30 + 25 + 10 + 13 = 78 of
    # 12 x 20 = 240 sample-cells; 0.1 s against 0.01 s per sample
    assert ("Over the 12 cells (2 models x 2 training seeds x 3 eps), alpha-CROWN verifies 98 of the 240 "
            "sample-cells") in text
    assert "against 78 for CROWN, at 10.0x its time per sample" in text
    # largest eps 0.04, the sweep's PGD-20: trm_std 17 and 15 of 20 falsified (85%, 75%), trm_adv 6 and 8
    assert ("At the largest eps=0.04, the sweep's attack (PGD-20, 1 random start) finds counterexamples for "
            "80.0% (75.0–85.0%) of trm_std's and 35.0% (30.0–40.0%) of trm_adv's 20 samples (mean and min–max "
            "over 2 training seeds).") in text
    # alpha-CROWN: 240 - 98 verified - 63 falsified - 2 timeouts - 15 misclassified sample-cells = 62 unknown;
    # misclassified samples are distinct samples per checkpoint (1; 1 and 2), not sample-cells (15)
    assert "62 of the 240 sample-cells over the grid stay unknown and 2 time out" in text
    assert ("Misclassified (wrong at eps = 0, so neither verified nor falsified at any eps), of the 20 samples: "
            "trm_std 1 and 2 (training seeds 0 and 1), trm_adv 1 with each training seed.") in text
    assert "15 are misclassified" not in text and "15 misclassified" not in text
    # accuracies: mean and min–max over seeds, with the attack named beside the PGD ones
    assert ("Clean accuracy on the 360 test images: trm_std 95.8% (95.5–96.1%), trm_adv 91.1% (90.5–91.7%); "
            "accuracy under training's evaluation attack, PGD-10 (eps 0.1, 1 random start), on the same images: "
            "trm_std 22.2% (21.1–23.3%), trm_adv 69.7% (68.8–70.6%) (mean and min–max over 2 training seeds). "
            "The sweep's attack (PGD-20, 1 random start) is another: it runs at each eps on the 20 selected "
            "samples only.") in text
    # Wilson intervals of 15/20 and 11/20, and what each kind of interval covers
    lo0, hi0 = wilson_by_hand(15, 20)
    lo1, hi1 = wilson_by_hand(11, 20)
    assert (lo0, hi0) == ("53.1%", "88.8%")
    assert (f"the 95% confidence intervals (Wilson) of trm_adv's verified share at eps=0.02 are {lo0} to {hi0} "
            f"(seed 0) and {lo1} to {hi1} (seed 1): each covers the sampling of the test images only, for one "
            "trained checkpoint.") in text
    # std of 75 and 55 (n - 1): 20 / sqrt(2) = 14.1
    assert ("The spread over the 2 training seeds (55.0–75.0%, standard deviation 14.1 points) covers training "
            "randomness") in text


def test_pdf_scaling_shows_the_spread_of_repeats_and_the_flag(report):
    text = pdf_text(report["pdf"])
    # base 32.0/s; 2xcpu: (49+53)/2 = 51 -> 1.59x (49/32 = 1.53, 53/32 = 1.66), 51/64 = 80%;
    # 2x1xcpu: (56+72)/2 = 64 -> 2.00x (1.75-2.25), 100%; its repeats 72/56 - 1 = 29% apart (> 10%)
    assert ("Scaling one CROWN cell of 64 samples over devices against 1xcpu (32.0 samples/s, repeats 32.0–32.0): "
            "2xcpu reaches 1.59x (1.53–1.66x over its 2 repeats; 80% efficiency); 2x1xcpu reaches 2.00x "
            "(1.75–2.25x over its 2 repeats; 100% efficiency).") in text
    assert ("Repeats more than 10% apart (flagged in scaling.csv): 2x1xcpu by 29%; those speed-ups are "
            "uncertain.") in text
    for devices, per_s, spread, speedup, eff in [("1xcpu", "32.0 32.0–32.0", "0%", "1.00x", "100%"),
                                                 ("2xcpu", "51.0 49.0–53.0", "8%", "1.59x", "80%"),
                                                 ("2x1xcpu", "64.0 56.0–72.0", r"29% \(> 10%\)", "2.00x", "100%")]:
        assert re.search(rf"{devices} \d \d 2 {per_s} {spread} {speedup} {eff} 350", text), devices


def test_pdf_tables_hold_every_cell_its_seed_and_the_spread_over_seeds(report):
    text = pdf_text(report["pdf"])
    for (model, method), per_seed in VERIFIED.items():
        for seed, counts in per_seed.items():
            for eps, n in zip(EPS, counts):
                pct = f"{100 * n / SAMPLES:.1f}"
                ms = f"{1000 * SECONDS[method]:.2f}"
                miscl = len(MISCLASSIFIED[model, seed])
                assert re.search(rf"{model} {seed} {method} {eps} {n} \d+ \d+ \d+ {miscl} 20 {pct} {ms}", text), \
                    (model, seed, method, eps)
        # over seeds: mean ± std (n - 1: |a - b| / sqrt 2 for two) and min–max, then each seed's value
        for i, eps in enumerate(EPS):
            a, b = (100 * per_seed[s][i] / SAMPLES for s in SEEDS)
            row = (f"{model} {method} {eps} {(a + b) / 2:.1f} ± {abs(a - b) / math.sqrt(2):.1f} "
                   f"{min(a, b):.1f}–{max(a, b):.1f} {a:.1f} {b:.1f}")
            assert row in text, row
    # the models table: each checkpoint, then mean ± std and min–max over seeds; the PGD column names its attack
    assert "PGD-10 (eps 0.1, 1 random start) acc." in text
    assert "trm_std standard 0 6 of 6 96.1% 23.3%" in text
    assert "trm_adv adversarial 1 4 of 6 90.5% 68.8%" in text
    # trm_std clean: 96.1 and 95.5 -> 95.8 ± 0.4; PGD 23.3 and 21.1 -> 22.2 ± 1.6
    assert "trm_std mean ± std 95.8% ± 0.4 22.2% ± 1.6" in text
    assert "trm_std min–max 95.5–96.1% 21.1–23.3%" in text


def test_pdf_title_page_and_captions_say_what_they_count_and_cover(report):
    from pypdf import PdfReader
    title = re.sub(r"\s+", " ", PdfReader(report["pdf"]).pages[0].extract_text())
    assert "digits, 20 test samples per cell, 3 eps, 3 bounding methods" in title
    assert "training seeds 0, 1" in title
    config_hash = hashlib.sha256(json.dumps(report["config"], sort_keys=True, separators=(",", ":")).encode())
    assert config_hash.hexdigest()[:12] in title and config_hash.hexdigest() not in title.replace(" ", "")
    text = pdf_text(report["pdf"])
    assert config_hash.hexdigest() in text.replace(" ", "")  # in full in the provenance table
    # the captions: which uncertainty the intervals cover
    assert "Lines are the mean over 2 training seeds (0 and 1); the shaded band spans their min–max (training " \
           "randomness)" in text
    assert "each band is that checkpoint's Wilson interval (test-image sampling), not a spread over seeds" in text


def test_pdf_figures_have_their_captions_and_provenance(report):
    text = pdf_text(report["pdf"])
    for i in range(1, len(FIGURES) + 1):
        assert f"Figure {i}." in text
    first = " ".join((ROOT / "workflow/report/robustness/verified_vs_eps.rst").read_text().split())
    assert first[:80] in text
    file_hash = hashlib.sha256(report["config_file"].read_bytes()).hexdigest()
    assert file_hash in text.replace(" ", "")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert commit.strip() in text
    import torch
    assert f"torch {torch.__version__}" in text
    assert "reports" in text and "devices: robustness training cpu x1" in text


def _page_images(pdf: Path, scale: float = 0.5) -> list[np.ndarray]:
    import pypdfium2 as pdfium
    doc = pdfium.PdfDocument(str(pdf))
    return [np.asarray(doc[i].render(scale=scale).to_pil().convert("L")) for i in range(len(doc))]


def test_pdf_pages_render_to_non_blank_images(report):
    pages = _page_images(report["pdf"])
    assert len(pages) >= 6
    for i, image in enumerate(pages):
        ink = (image < 200).mean()
        assert ink > 0.004, f"page {i + 1} is blank ({ink:.4f} of its pixels are ink)"
    from pypdf import PdfReader
    assert sum(len(page.images) for page in PdfReader(report["pdf"]).pages) == len(FIGURES)


def test_pdf_figure_pages_are_filled(report, one_seed):
    """No page of figures or tables stops half-way (the title page, and the last page and
    those that end a section, may): the ink reaches below two thirds of the text height."""
    from pypdf import PdfReader
    for pdf in (report["pdf"], one_seed["pdf"]):
        pages = _page_images(pdf)
        texts = [page.extract_text() for page in PdfReader(pdf).pages]
        # the page before each section heading ends that section
        ends = {i - 1 for i, t in enumerate(texts) if re.search(r"^\s*[2-6] (Models|Figures|Results|Scaling|"
                                                                r"Provenance)", t, re.M)}
        for i, image in enumerate(pages[1:-1], 1):
            if i in ends:
                continue
            rows = np.flatnonzero((image[: int(image.shape[0] * 0.93)] < 200).any(axis=1))
            top, bottom = image.shape[0] * 2 / 29.7, image.shape[0] * (1 - 2 / 29.7)  # 2 cm margins
            filled = (rows.max() - top) / (bottom - top)
            assert filled > 2 / 3, f"{pdf.parent.name}: page {i + 1} is filled to {filled:.0%} only"


def test_a_single_seed_reads_as_one_run(one_seed):
    text = pdf_text(one_seed["pdf"])
    assert HEADLINE_ONE_SEED in text
    assert "training seed" not in text.split("2 Models")[0].split("1 Summary")[1]  # no "mean of 1 seed" noise
    assert "Over the 6 cells (2 models x 3 eps), alpha-CROWN verifies 50 of the 120 sample-cells" in text
    # seed 0: 18+15+4+10+3+0 = 50 verified, 7 + 25 = 32 falsified, 2 timeouts, 6 misclassified cells -> 30 unknown
    assert "30 of the 120 sample-cells over the grid stay unknown and 2 time out" in text
    assert "of the 20 samples: trm_std 1, trm_adv 1." in text
    assert ("Clean accuracy on the 360 test images: trm_std 96.1%, trm_adv 91.7%; accuracy under training's "
            "evaluation attack, PGD-10 (eps 0.1, 1 random start), on the same images: trm_std 23.3%, "
            "trm_adv 70.6%. The sweep's attack (PGD-20, 1 random start)") in text
    assert ("the 95% confidence interval (Wilson) of trm_adv's verified share at eps=0.02 is 53.1% to 88.8%; it "
            "covers the sampling of the test images only, for this one trained checkpoint.") in text
    assert "trm_adv alpha-CROWN 0.02 15 1 3 0 1 20 75.0 100.00 900" in text  # no seed column
    assert "mean ± std" not in text and "min–max over" not in text and "training seeds" not in text
    texts = deck_texts(one_seed["deck"])
    assert HEADLINE_ONE_SEED in texts[3] and "training seed" not in texts[0] + texts[3]
    from pptx import Presentation
    assert _table(list(Presentation(one_seed["deck"]).slides)[3])[1:] == [
        ["0.01", "50.0%", "90.0%"], ["0.02", "15.0%", "75.0%"], ["0.04", "0.0%", "20.0%"]]


# ---------------------------------------------------------------- deck

def test_deck_has_the_six_slides_and_the_numbers(report):
    from pptx import Presentation
    deck = Presentation(report["deck"])
    slides = list(deck.slides)
    texts = deck_texts(report["deck"])
    assert len(slides) == 6
    assert "Robustness verification" in texts[0] and "20 test samples per cell" in texts[0] and "3 eps" in texts[0]
    assert "2 training seeds" in texts[0]
    assert ["The problem", "The pipeline", "Results", "Scaling", "Conclusion"] == [
        re.match(r"(The problem|The pipeline|Results|Scaling|Conclusion)", t).group(1) for t in texts[1:]]
    assert "{0.01, 0.02, 0.04}" in texts[1]
    # 2 models x 2 seeds: 4 checkpoints, 12 attacks, 36 cells, 720 verdicts; 6 scaling runs
    assert "4 checkpoints" in texts[2] and "36 cells" in texts[2] and "12 PGD runs" in texts[2] and "6 runs" in texts[2]
    results = _table(slides[3])
    assert results[0] == ["eps", "trm_std", "trm_adv"] and "verified share, alpha-CROWN" in texts[3]
    # mean ± std (n - 1) over the two seeds, then the seeds' values
    assert results[1:] == [["0.01", "55.0% ± 7.1\n(50.0, 60.0)", "87.5% ± 3.5\n(90.0, 85.0)"],
                           ["0.02", "20.0% ± 7.1\n(15.0, 25.0)", "65.0% ± 14.1\n(75.0, 55.0)"],
                           ["0.04", "2.5% ± 3.5\n(0.0, 5.0)", "15.0% ± 7.1\n(20.0, 10.0)"]]
    assert ("mean ± std over training seeds 0 and 1, i.e. training randomness (each seed's value below)"
            in texts[3])
    assert "The sweep's attack (PGD-20, 1 random start) looks for counterexamples first" in texts[1]
    assert HEADLINE in texts[3]
    scaling = _table(slides[4])
    assert scaling[0][:6] == ["devices", "processes", "samples / s", "repeats min–max", "spread", "speed-up"]
    assert [row[:7] for row in scaling[1:]] == [["1xcpu", "1", "32.0", "32.0–32.0", "0%", "1.00x", "100%"],
                                                ["2xcpu", "2", "51.0", "49.0–53.0", "8%", "1.59x", "80%"],
                                                ["2x1xcpu", "2", "64.0", "56.0–72.0", "29% (> 10%)", "2.00x", "100%"]]
    assert "2x1xcpu by 29%; those speed-ups are uncertain" in texts[4]
    assert HEADLINE in texts[5]
    assert "2x1xcpu reaches 2.00x (1.75–2.25x over its 2 repeats" in texts[5]
    assert "PGD-10 (eps 0.1, 1 random start)" in texts[5]
    from pptx.enum.shapes import MSO_SHAPE_TYPE
    assert sum(sh.shape_type == MSO_SHAPE_TYPE.PICTURE for s in slides for sh in s.shapes) == 2  # the two figures


def test_deck_shows_the_commands_of_the_profile_the_run_used(report, tmp_path):
    texts = deck_texts(report["deck"])
    assert "snakemake all  ·  snakemake reports --configfile" in texts[2] and "--profile" not in texts[2]
    from tinyscale.report.provenance import with_profile
    record = json.loads(Path(report["provenance"]).read_text())
    slurm = tmp_path / "provenance.json"
    slurm.write_text(json.dumps({**record, "profile": "profiles/slurm",
                                 "command": with_profile(record["command"], "profiles/slurm")}))
    deck = tmp_path / "slides.pptx"
    run("report.py", *report_args("slides", report, report["figures"], deck, provenance=slurm))
    texts = deck_texts(deck)
    assert "snakemake all --profile profiles/slurm  ·  snakemake reports --profile profiles/slurm --configfile" \
        in texts[2]
    assert "snakemake results/robustness/sweep/<model>__seed<s>__<method>__eps<eps>.csv --profile profiles/slurm" \
        in texts[2]
    assert "generated by `snakemake reports --profile profiles/slurm --configfile" in texts[0]


@pytest.mark.parametrize("which", ["report", "one_seed"])
def test_deck_shapes_stay_on_the_slide_without_overlapping(which, request):
    assert_deck_is_legible(request.getfixturevalue(which)["deck"])


def _table(slide) -> list[list[str]]:
    table = next(sh for sh in slide.shapes if sh.has_table).table
    return [[cell.text for cell in row.cells] for row in table.rows]


# ---------------------------------------------------------------- figures

def test_every_figure_is_a_png_and_an_svg(report):
    from PIL import Image
    for name, png in report["figures"].items():
        with Image.open(png) as im:
            pixels = np.asarray(im.convert("L"))
        assert pixels.shape[1] > 800 and (pixels < 200).mean() > 0.01, name
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml"), name


def test_a_model_has_one_colour_in_every_figure(report):
    """seaborn's colourblind palette in the config's order: trm_std first, trm_adv second."""
    import seaborn as sns
    hexes = [f"#{''.join(f'{round(255 * c):02x}' for c in rgb)}" for rgb in sns.color_palette("colorblind", 2)]
    for name in ["verified_vs_eps", "time_vs_eps", "memory_vs_eps", "convergence", "training_curves"]:
        svg = report["figures"][name].with_suffix(".svg").read_text()
        for model, colour in zip(MODELS, hexes):
            assert f"stroke: {colour}" in svg, (name, model)


def test_figures_are_reproducible(report, tmp_path):
    again = build_figures(report, tmp_path)
    for name in FIGURES:
        assert again[name].read_bytes() == report["figures"][name].read_bytes(), name
        assert again[name].with_suffix(".svg").read_bytes() == report["figures"][name].with_suffix(".svg").read_bytes()


def _campaign(files: dict):
    from tinyscale.robustness.report.results import Results
    return Results.load(files["sweep"], files["metrics"], files["scaling"], json.loads(Path(files["provenance"]).read_text()))


def test_coinciding_lines_stay_visible(report):
    """Both models' IBP lines lie at 0% at eps 0.02 and 0.04 (seed 0): each model's line is
    moved sideways or the one beneath is drawn wider, so that the other does not hide it."""
    from tinyscale.robustness.report import figures
    from tinyscale.robustness.report.results import load_sweep
    sweep = load_sweep(report["sweep"])
    fig = figures.verified_vs_eps(sweep, figures.model_colours(MODELS))
    lines = {}
    for line in fig.axes[0].get_lines():
        if line.get_gid():
            lines[line.get_gid()] = line
    for method in METHODS.values():
        a, b = lines[f"trm_std {method}"], lines[f"trm_adv {method}"]
        lower, upper = sorted((a, b), key=lambda ln: ln.get_zorder())
        moved = not np.allclose(a.get_xdata(), b.get_xdata())
        assert moved or lower.get_linewidth() > upper.get_linewidth() + 1, method


def test_figures_name_the_loss_the_attack_and_per_process_memory(report):
    from tinyscale.robustness.report import figures
    from tinyscale.robustness.report.results import load_histories
    c = _campaign(report)
    fig = figures.training_curves(load_histories(report["histories"]), c.checkpoints, figures.model_colours(MODELS))
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "trm_std: loss CE(clean)" in labels
    assert "trm_adv: loss 0.5·CE(clean) + 0.5·CE(PGD-5 eps 0.1)" in labels
    assert any("PGD-10 (eps 0.1, 1 random start)" in ax.get_title() for ax in fig.axes)
    assert any("360 test images" in ax.get_title() for ax in fig.axes)
    fig = figures.scaling(c.scaling)
    memory = fig.axes[2]
    assert "per process" in memory.get_title() and "per process" in memory.get_ylabel()
    assert "device" not in memory.get_title()
    from matplotlib.container import ErrorbarContainer
    assert sum(isinstance(cont, ErrorbarContainer) for ax in fig.axes[:2] for cont in ax.containers) >= 2
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts) + " ".join(
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts())
    assert "29%" in texts and "> 10%" in texts


def test_scaling_spread_comes_from_the_runs_without_spread_columns(tmp_path):
    """An older scaling.csv (no spread columns; the flag only in ``notes``)."""
    from tinyscale.robustness.report.results import load_scaling
    rows = []
    for (nodes, procs), rates, note in [((1, 1), [32.0, 32.0], ""), ((1, 2), [49.0, 53.0], ";repeats differ by 8%"),
                                        ((2, 1), [56.0, 72.0], ";repeats differ by 29%")]:
        for r, rate in enumerate(rates, 1):
            rows.append({"timestamp": "t", "config": "CROWN", "devices": f"{nodes}x{procs}", "batch": 8,
                         "samples": 64, "avg_time_per_sample_s": 1 / rate, "total_time_s": 64 / rate,
                         "gpu_mem_mb": 1.0, "notes": f"run{r}{note}", "nodes": nodes, "procs_per_node": procs,
                         "world_size": nodes * procs})
    path = tmp_path / "scaling.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table = load_scaling(path)[1].set_index("devices")
    assert table.loc["2x1", "repeat_min_samples_per_s"] == pytest.approx(56.0)
    assert table.loc["2x1", "repeat_max_samples_per_s"] == pytest.approx(72.0)
    assert table.loc["2x1", "repeat_spread"] == pytest.approx(72 / 56 - 1)
    # the notes' flag counts even where the computed spread is under 10% (here 8%: a note says so)
    assert table["flagged"].tolist() == [False, True, True]


# ---------------------------------------------------------------- changed results, bad results

def test_a_changed_results_file_changes_the_report(report, tmp_path):
    """trm_adv's alpha-CROWN cells at eps 0.02 become 18 (seed 0) and 4 (seed 1) of 20: the mean
    lead is still largest there ((18+4)/2 = 11, 55.0% against 20.0%), but seed 1 verifies fewer
    than trm_std's seed 1 (4 vs 5): the headline says it does not hold on every seed."""
    files = {**report}
    changed = {**VERIFIED, ("trm_adv", "alpha-CROWN"): {0: [18, 18, 4], 1: [17, 4, 2]}}
    cells = write_cells(tmp_path, changed)
    sweep = tmp_path / "robustness/sweep.csv"
    run("robustness/merge_sweep.py", "--out", sweep, *cells)
    files.update(cells=cells, sweep=sweep)
    figures = build_figures(files, tmp_path / "figures")
    pdf, deck = build_report(files, figures, tmp_path / "report")
    new = ("At eps=0.02, the adversarially trained model trm_adv verifies 55.0% of the 20 samples (mean of 2 "
           "training seeds; 20.0–90.0%) against 20.0% (15.0–25.0%) for the standard model trm_std (alpha-CROWN "
           "bounds); trm_adv does not verify more than trm_std on every training seed (seed 0: 18 vs 3, seed 1: "
           "4 vs 5 of the 20 samples).")
    text = pdf_text(pdf)
    assert new in text and HEADLINE not in text
    from pptx import Presentation
    # 90 and 20: mean 55.0, std 70 / sqrt 2 = 49.5
    assert _table(list(Presentation(deck).slides)[3])[2] == ["0.02", "20.0% ± 7.1\n(15.0, 25.0)",
                                                             "55.0% ± 49.5\n(90.0, 20.0)"]
    assert figures["verified_heatmap"].read_bytes() != report["figures"]["verified_heatmap"].read_bytes()


def test_a_results_file_without_a_column_is_one_clear_error(report, tmp_path):
    broken = tmp_path / "sweep.csv"
    pd.read_csv(report["sweep"]).drop(columns=["train_seed"]).to_csv(broken, index=False)
    out = tmp_path / "report.pdf"
    proc = run("report.py", *report_args("pdf", report, report["figures"], out, sweep=broken), check=False)
    assert proc.returncode == 2
    assert f"error: {broken}: missing column(s) train_seed" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".report*"))
