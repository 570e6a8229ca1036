"""Reports from a small results set written here, in the pipeline's file formats.

The numbers the report must state are worked out by hand below (not by the
report's code): the PDF's extracted text, the deck's tables and the figures
are checked against them, and against a changed results file.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT

SCRIPTS = ROOT / "workflow" / "scripts"
CAPTIONS = sorted((ROOT / "workflow" / "report").glob("*.rst"))
MODELS = ["trm_std", "trm_adv"]
EPS = ["0.01", "0.02", "0.04"]
METHODS = {"ibp": "IBP", "crown": "CROWN", "alpha-crown": "alpha-CROWN"}
SAMPLES = 20
# verified samples of 20 per (model, method) over EPS; sample 19 is misclassified
VERIFIED = {
    ("trm_adv", "IBP"): [6, 2, 0], ("trm_adv", "CROWN"): [16, 12, 2], ("trm_adv", "alpha-CROWN"): [18, 15, 4],
    ("trm_std", "IBP"): [1, 0, 0], ("trm_std", "CROWN"): [8, 2, 0], ("trm_std", "alpha-CROWN"): [10, 3, 0],
}
FALSIFIED = {"trm_adv": [0, 1, 6], "trm_std": [2, 6, 17]}
SECONDS = {"IBP": 0.001, "CROWN": 0.01, "alpha-CROWN": 0.1}
# by hand: alpha-CROWN's largest lead of trm_adv over trm_std is at eps 0.02 (15 vs 3 of 20)
HEADLINE = ("At eps=0.02, the adversarially trained model trm_adv verifies 75.0% of the 20 samples against "
            "15.0% for the standard model trm_std (alpha-CROWN bounds).")
# scaling: 64 samples in 2.0 s on one process (32.0/s), 1.25 s on two (51.2/s), 1.0 s on 2 nodes (64.0/s)
SCALING_TIMES = {(1, 1): 2.0, (1, 2): 1.25, (2, 1): 1.0}
FIGURES = ["verified_vs_eps", "verified_heatmap", "verdicts", "convergence", "time_vs_eps", "memory_vs_eps",
           "training_curves", "scaling"]


def run(script: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed:\n{proc.stderr[-3000:]}")
    return proc


def write_cells(root: Path, verified=VERIFIED) -> list[Path]:
    """Per-sample sweep cells whose verdict counts are the tables above, in a seeded order."""
    paths = []
    rng = np.random.default_rng(0)
    for model in MODELS:
        for key, method in METHODS.items():
            for i, eps in enumerate(EPS):
                n_ver, n_fal = verified[model, method][i], FALSIFIED[model][i]
                n_to = 2 if (model, method, eps) == ("trm_adv", "alpha-CROWN", "0.04") else 0
                verdicts = (["verified"] * n_ver + ["falsified"] * n_fal + ["timeout"] * n_to
                            + ["unknown"] * (SAMPLES - 1 - n_ver - n_fal - n_to))
                verdicts = list(rng.permutation(verdicts)) + ["misclassified"]
                cell = pd.DataFrame({
                    "model": model, "method": method, "epsilon": float(eps), "sample": range(SAMPLES),
                    "label": 3, "prediction": [3] * (SAMPLES - 1) + [5], "verdict": verdicts,
                    "lower_bound": 0.5, "attack_margin": 1.0, "seconds": SECONDS[method],
                    "bound_source": method, "peak_mem_mb": {"IBP": 300.0, "CROWN": 400.0, "alpha-CROWN": 900.0}[method],
                    "device": "cpu", "world_size": 1, "seed": 0, "config": "reportset"})
                path = root / "robustness/sweep" / f"{model}__{key}__eps{eps}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                cell.to_csv(path, index=False)
                paths.append(path)
    return paths


def write_results(root: Path) -> dict:
    """A complete small results set: cells, the merged sweep (by the pipeline's merge
    script), checkpoint records, histories, the scaling table and the provenance."""
    cells = write_cells(root)
    sweep = root / "robustness/sweep.csv"
    run("merge_sweep.py", "--out", sweep, *cells)
    ckpt = root / "robustness/checkpoints"
    metrics, histories = [], []
    for model, clean, pgd_acc, kept, adversarial in [("trm_std", 0.961, 0.233, 6, None),
                                                      ("trm_adv", 0.917, 0.706, 5, {"eps": 0.1, "steps": 5})]:
        m = ckpt / f"{model}.json"
        m.parent.mkdir(parents=True, exist_ok=True)
        m.write_text(json.dumps({"clean_acc": clean, "pgd_acc": pgd_acc, "kept_epoch": kept, "data": "digits",
                                 "device": "cpu", "world_size": 1, "eval_attack": {"eps": 0.1, "steps": 10},
                                 "recipe": {"epochs": 6, "adversarial": adversarial}}))
        h = ckpt / f"{model}_history.csv"
        pd.DataFrame({"epoch": range(1, 7), "lr": 1e-3, "loss": np.linspace(2.0, 0.3, 6),
                      "clean_acc": np.linspace(0.3, clean, 6), "pgd_acc": np.linspace(0.1, pgd_acc, 6)}).to_csv(
            h, index=False)
        metrics.append(m)
        histories.append(h)
    rows = []
    for (nodes, procs), seconds in SCALING_TIMES.items():
        for r in (1, 2):
            rows.append({"timestamp": "2026-11-24T10:00:00", "config": "CROWN",
                         "devices": f"{procs}xcpu" if nodes == 1 else f"{nodes}x{procs}xcpu", "batch": 8,
                         "samples": 64, "avg_time_per_sample_s": seconds / 64, "total_time_s": seconds,
                         "gpu_mem_mb": 350.0, "notes": f"run{r}", "nodes": nodes, "procs_per_node": procs,
                         "world_size": nodes * procs})
    scaling = root / "scaling/scaling.csv"
    scaling.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(scaling, index=False)
    config = {"name": "reportset", "seed": 0}
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    provenance = root / "report/provenance.json"
    run("provenance.py", "--config", json.dumps(config), "--config-files", config_file, "--command",
        f"snakemake --configfile {config_file} reports", "--metrics", *metrics, "--cells", *cells,
        "--scaling", scaling, "--out", provenance)
    return {"cells": cells, "sweep": sweep, "metrics": metrics, "histories": histories, "scaling": scaling,
            "provenance": provenance, "config": config, "config_file": config_file}


def build_figures(files: dict, out: Path) -> dict[str, Path]:
    outs = {name: [out / f"{name}.png", out / f"{name}.svg"] for name in FIGURES}
    groups = {"sweep": ["verified_vs_eps", "time_vs_eps", "memory_vs_eps", "verified_heatmap", "verdicts"]}
    models = ["--models", *MODELS]
    run("figures.py", "sweep", "--sweep", files["sweep"], *models, "--out", *sum((outs[n] for n in groups["sweep"]), []))
    run("figures.py", "training", "--metrics", *files["metrics"], "--histories", *files["histories"], *models,
        "--out", *outs["training_curves"])
    run("figures.py", "convergence", "--cells", *files["cells"], *models, "--out", *outs["convergence"])
    run("figures.py", "scaling", "--scaling", files["scaling"], "--out", *outs["scaling"])
    return {name: paths[0] for name, paths in outs.items()}


def build_report(files: dict, figures: dict[str, Path], out: Path) -> tuple[Path, Path]:
    common = ["--sweep", files["sweep"], "--metrics", *files["metrics"], "--scaling", files["scaling"],
              "--provenance", files["provenance"]]
    pdf, deck = out / "report.pdf", out / "slides.pptx"
    run("report.py", "pdf", *common, "--figures", *figures.values(), "--captions", *CAPTIONS, "--out", pdf)
    run("report.py", "slides", *common, "--figures", figures["verified_vs_eps"], figures["scaling"], "--out", deck)
    return pdf, deck


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(path).pages))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    files = write_results(root)
    figures = build_figures(files, root / "figures")
    pdf, deck = build_report(files, figures, root / "report")
    return {**files, "root": root, "figures": figures, "pdf": pdf, "deck": deck}


# ---------------------------------------------------------------- PDF

def test_pdf_summary_states_the_computed_comparison(report):
    text = pdf_text(report["pdf"])
    assert HEADLINE in text
    # alpha-CROWN against CROWN over the grid: 18+15+4+10+3+0 = 50 against 16+12+2+8+2+0 = 40, 0.1 / 0.01 s
    assert "alpha-CROWN verifies 50 samples in total against 40 for CROWN, at 10.0x its time per sample" in text
    # largest eps 0.04: 17 of 20 of trm_std falsified, 6 of 20 of trm_adv
    assert "counterexamples for 85.0% of trm_std's and 30.0% of trm_adv's samples" in text
    # alpha-CROWN unknowns: 120 verdicts - 50 verified - 32 falsified - 2 timeouts - 6 misclassified = 30
    assert "30 of 120 verdicts over the grid stay unknown and 2 time out; 6 are misclassified" in text
    assert "Clean test accuracy: trm_std 96.1%, trm_adv 91.7%" in text
    assert "trm_std 23.3%, trm_adv 70.6%" in text
    # Wilson interval of 15/20 (z = 1.96): 53.1% to 88.8%
    assert "is 53.1% to 88.8%" in text
    assert "2xcpu reaches 1.60x (80% efficiency); 2x1xcpu reaches 2.00x (100% efficiency)" in text


def test_pdf_tables_hold_every_cell_and_the_scaling_runs(report):
    text = pdf_text(report["pdf"])
    for (model, method), counts in VERIFIED.items():
        for eps, n in zip(EPS, counts):
            pct = f"{100 * n / SAMPLES:.1f}"
            ms = f"{1000 * SECONDS[method]:.2f}"
            assert re.search(rf"{model} {method} {eps} {n} \d+ \d+ \d+ 1 20 {pct} {ms}", text), (model, method, eps)
    for devices, per_s, speedup, eff in [("1xcpu", "32.0", "1.00x", "100%"), ("2xcpu", "51.2", "1.60x", "80%"),
                                         ("2x1xcpu", "64.0", "2.00x", "100%")]:
        assert re.search(rf"{devices} \d \d 2 {per_s} {speedup} {eff} 350", text), devices


def test_pdf_figures_have_their_captions_and_provenance(report):
    text = pdf_text(report["pdf"])
    for i in range(1, len(FIGURES) + 1):
        assert f"Figure {i}." in text
    first = " ".join((ROOT / "workflow/report/verified_vs_eps.rst").read_text().split())
    assert first[:80] in text
    config_hash = hashlib.sha256(json.dumps(report["config"], sort_keys=True, separators=(",", ":")).encode())
    assert config_hash.hexdigest() in text.replace(" ", "")
    file_hash = hashlib.sha256(report["config_file"].read_bytes()).hexdigest()
    assert file_hash in text.replace(" ", "")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert commit.strip() in text
    import torch
    assert f"torch {torch.__version__}" in text
    assert "reports" in text and "devices: training cpu x1" in text


def test_pdf_pages_render_to_non_blank_images(report):
    import pypdfium2 as pdfium
    doc = pdfium.PdfDocument(str(report["pdf"]))
    assert len(doc) >= 6
    for i in range(len(doc)):
        image = np.asarray(doc[i].render(scale=0.5).to_pil().convert("L"))
        ink = (image < 200).mean()
        assert ink > 0.004, f"page {i + 1} is blank ({ink:.4f} of its pixels are ink)"
    from pypdf import PdfReader
    assert sum(len(page.images) for page in PdfReader(report["pdf"]).pages) == len(FIGURES)


# ---------------------------------------------------------------- deck

def test_deck_has_the_six_slides_and_the_numbers(report):
    from pptx import Presentation
    deck = Presentation(report["deck"])
    slides = list(deck.slides)
    texts = [" ".join(sh.text_frame.text for sh in s.shapes if sh.has_text_frame) for s in slides]
    assert len(slides) == 6
    assert "Robustness verification" in texts[0] and "20 samples" in texts[0] and "3 eps" in texts[0]
    assert ["The problem", "The pipeline", "Results", "Scaling", "Conclusion"] == [
        re.match(r"(The problem|The pipeline|Results|Scaling|Conclusion)", t).group(1) for t in texts[1:]]
    assert "{0.01, 0.02, 0.04}" in texts[1]
    assert "18 cells" in texts[2] and "6 PGD runs" in texts[2] and "6 runs" in texts[2]
    results = _table(slides[3])
    assert results[0] == ["eps", "trm_std", "trm_adv"] and "verified share, alpha-CROWN" in texts[3]
    assert results[1:] == [["0.01", "50.0%", "90.0%"], ["0.02", "15.0%", "75.0%"], ["0.04", "0.0%", "20.0%"]]
    assert HEADLINE in texts[3]
    assert [row[:5] for row in _table(slides[4])[1:]] == [["1xcpu", "1", "32.0", "1.00x", "100%"],
                                                          ["2xcpu", "2", "51.2", "1.60x", "80%"],
                                                          ["2x1xcpu", "2", "64.0", "2.00x", "100%"]]
    assert HEADLINE in texts[5] and "53.1% to 88.8%" in texts[5]
    from pptx.enum.shapes import MSO_SHAPE_TYPE
    assert sum(sh.shape_type == MSO_SHAPE_TYPE.PICTURE for s in slides for sh in s.shapes) == 2  # the two figures


def test_deck_shapes_stay_on_the_slide_without_overlapping(report):
    from pptx import Presentation
    from pptx.shapes.connector import Connector
    from pptx.util import Pt
    deck = Presentation(report["deck"])
    for number, slide in enumerate(deck.slides, 1):
        boxes = [sh for sh in slide.shapes if not isinstance(sh, Connector)]  # arrows touch what they join
        for sh in boxes:
            assert sh.left >= 0 and sh.top >= 0, (number, sh.name)
            assert sh.left + sh.width <= deck.slide_width and sh.top + sh.height <= deck.slide_height, (number, sh.name)
            for p in (sh.text_frame.paragraphs if sh.has_text_frame else []):
                for r in p.runs:
                    assert r.font.size is None or r.font.size >= Pt(12), (number, sh.name, r.text)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                apart = (a.left + a.width <= b.left or b.left + b.width <= a.left
                         or a.top + a.height <= b.top or b.top + b.height <= a.top)
                assert apart, f"slide {number}: {a.name} overlaps {b.name}"


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


# ---------------------------------------------------------------- changed results, bad results

def test_a_changed_results_file_changes_the_report(report, tmp_path):
    """trm_adv's alpha-CROWN cell at eps 0.02 loses 3 certificates: the report says 60.0%."""
    files = {**report}
    changed = {**VERIFIED, ("trm_adv", "alpha-CROWN"): [18, 12, 4]}
    cells = write_cells(tmp_path, changed)
    sweep = tmp_path / "robustness/sweep.csv"
    run("merge_sweep.py", "--out", sweep, *cells)
    files.update(cells=cells, sweep=sweep)
    figures = build_figures(files, tmp_path / "figures")
    pdf, deck = build_report(files, figures, tmp_path / "report")
    new = HEADLINE.replace("75.0%", "60.0%")
    assert new in pdf_text(pdf) and HEADLINE not in pdf_text(pdf)
    from pptx import Presentation
    assert _table(list(Presentation(deck).slides)[3])[2] == ["0.02", "15.0%", "60.0%"]
    assert figures["verified_heatmap"].read_bytes() != report["figures"]["verified_heatmap"].read_bytes()


def test_a_results_file_without_a_column_is_one_clear_error(report, tmp_path):
    broken = tmp_path / "sweep.csv"
    pd.read_csv(report["sweep"]).drop(columns=["falsified"]).to_csv(broken, index=False)
    out = tmp_path / "report.pdf"
    proc = run("report.py", "pdf", "--sweep", broken, "--metrics", *report["metrics"], "--scaling", report["scaling"],
               "--provenance", report["provenance"], "--figures", *report["figures"].values(), "--captions",
               *CAPTIONS, "--out", out, check=False)
    assert proc.returncode == 2
    assert f"error: {broken}: missing column(s) falsified" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".report*"))
