"""The pipeline end to end through Snakemake on a tiny config."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT, SNAKEMAKE, TINY, planned_jobs, smk, with_robustness

def test_all_produces_the_merged_sweep(complete_run):
    table = pd.read_csv(complete_run / "results/robustness/sweep.csv")
    assert list(table.columns) == ["model", "epsilon", "verified", "falsified", "total", "avg_time_s",
                                   "avg_mem_MB", "bound", "unknown", "timeout", "misclassified", "train_seed"]
    assert (table["train_seed"] == 0).all()
    assert len(table) == 2 * 3
    assert set(table["bound"]) == {"IBP", "CROWN", "alpha-CROWN"}
    counts = table[["verified", "falsified", "unknown", "timeout", "misclassified"]].sum(axis=1)
    assert (counts == table["total"]).all() and (table["total"] == 8).all()
    assert (table["avg_mem_MB"] > 0).all()
    cell = pd.read_csv(complete_run / "results/robustness/sweep/trm_adv__seed0__crown__eps0.05.csv")
    assert list(cell["sample"]) == list(range(8))
    assert {"label", "prediction", "verdict", "lower_bound", "attack_margin", "seconds"} <= set(cell.columns)


def test_scaling_runs_and_their_table(complete_run):
    runs = sorted(p.name for p in (complete_run / "results/robustness/scaling/sweep").glob("*.csv"))
    assert runs == ["1n1p_run1.csv", "1n1p_run2.csv", "1n2p_run1.csv", "1n2p_run2.csv",
                    "2n1p_run1.csv", "2n1p_run2.csv"]
    table = pd.read_csv(complete_run / "results/robustness/scaling/scaling.csv")
    assert list(table.columns[:9]) == ["timestamp", "config", "devices", "batch", "samples",
                                       "avg_time_per_sample_s", "total_time_s", "gpu_mem_mb", "notes"]
    assert set(table["devices"]) == {"1xcpu", "2xcpu", "2x1xcpu"}
    assert (table["samples"] == 8).all() and (table["total_time_s"] > 0).all() and (table["gpu_mem_mb"] > 0).all()
    assert table["notes"].str.match(r"run[12]").all()
    assert (complete_run / "results/robustness/figures/scaling.png").stat().st_size > 10_000


def test_every_rule_wrote_a_log(complete_run):
    logs = sorted(p.relative_to(complete_run / "results/logs").as_posix()
                  for p in (complete_run / "results/logs").rglob("*.log"))
    assert "robustness/data/digits.log" in logs and "robustness/train/trm_adv__seed0.log" in logs
    assert "reasoning/data/sudoku-4x4.log" in logs and "report/report_pdf.log" in logs
    assert "robustness/verify/trm_std__seed0__alpha-crown__eps0.05.log" in logs
    assert "epoch 3/3" in (complete_run / "results/logs/robustness/train/trm_adv__seed0.log").read_text()


def test_checkpoints_and_their_records(complete_run):
    from tinyscale.robustness.checkpoint import load_checkpoint
    import json
    ckpt = complete_run / "results/robustness/checkpoints"
    model = load_checkpoint(ckpt / "trm_adv__seed0.pt")
    assert not model.training
    metrics = json.loads((ckpt / "trm_adv__seed0.json").read_text())
    assert 0 <= metrics["clean_acc"] <= 1 and 0 <= metrics["pgd_acc"] <= 1
    history = pd.read_csv(ckpt / "trm_adv__seed0_history.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    assert {"loss", "clean_acc", "pgd_acc"} <= set(history.columns)


def test_nothing_to_do_after_a_complete_run(complete_run):
    assert planned_jobs(smk(complete_run, TINY, "-n", "all")) == {}


def _copy_checkout(dest: Path) -> Path:
    """The checkout's tracked and untracked-but-not-ignored files, copied to ``dest``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def test_a_moved_checkout_and_results_plan_nothing(complete_run, tmp_path):
    """Rule commands name neither the checkout's place nor the interpreter's path."""
    checkout = _copy_checkout(tmp_path / "checkout")
    work = tmp_path / "work"
    shutil.copytree(complete_run, work, symlinks=True)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile"), "-d", str(work),
                           "-n", "all", "--configfile", str(work / "config.yaml")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert planned_jobs(proc) == {}, proc.stdout[-3000:]


@pytest.mark.parametrize("how", ["console script, in the working directory", "python -m, from elsewhere with -d"])
def test_another_way_of_calling_snakemake_plans_nothing(complete_run, tmp_path, how):
    if how.startswith("console"):
        cmd, cwd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(ROOT / "Snakefile")], complete_run
    else:
        cmd, cwd = ["python3", "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(complete_run)], tmp_path
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*cmd, "-n", "all", "--configfile", str(complete_run / "config.yaml")],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert planned_jobs(proc) == {}, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_recorded_command_runs(complete_run):
    """provenance.json's command (a dry run of it, in the working directory), and one
    with --config overrides, whose nested numbers Snakemake would read as strings."""
    from tinyscale.report.provenance import rebuild_command
    record = json.loads((complete_run / "results/report/provenance.json").read_text())
    assert record["command"] == "snakemake reports --configfile config.yaml" and record["profile"] is None
    commands = [shlex.split(record["command"]),
                rebuild_command("reports", ["config.yaml"], {"seed": 1, "robustness": {"training": {"seeds": [0, 2]}}})]
    for parts in commands:
        proc = subprocess.run([*SNAKEMAKE, *parts[1:], "-n"], capture_output=True, text=True, timeout=300,
                              cwd=complete_run)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert planned_jobs(proc)["train_checkpoint"] == 4  # 2 models x seeds 0 and 2 (seed 1: a new data split)


def test_a_bare_snakemake_call_runs_on_this_machine(tmp_path):
    """No --cores and no --profile: the workflow profile (profiles/default) gives them."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-s", str(ROOT / "Snakefile"),
                           "results/robustness/data/digits.npz", "--configfile", "config.yaml"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "workflow specific profile" in proc.stderr and (tmp_path / "results/robustness/data/digits.npz").exists()


def test_methods_without_crown_compute_its_cells_as_intermediates(tmp_path):
    cfg = with_robustness(TINY, methods=["ibp", "alpha-crown"])
    jobs = planned_jobs(smk(tmp_path, cfg, "-n", "results/robustness/sweep.csv"))
    assert jobs["verify_cell"] == 2 * 3 and jobs["merge_sweep"] == 1   # ibp, alpha-crown and its crown cell


def test_too_many_samples_stop_the_dry_run_once_the_dataset_exists(complete_run):
    greedy = with_robustness(TINY, samples=5000)
    proc = smk(complete_run, greedy, "-n", "all", check=False)
    assert proc.returncode != 0
    assert "config key 'robustness.samples': 5000 samples asked for but the test split of " \
           "results/robustness/data/digits.npz has only 360 images" in proc.stdout + proc.stderr
    smk(complete_run, TINY, "-n", "all")  # the config file back as it was


def test_training_seeds_are_a_dimension(tmp_path):
    cfg = with_robustness(TINY, training={**TINY["robustness"]["training"], "seeds": [0, 1]})
    jobs = planned_jobs(smk(tmp_path, cfg, "-n", "results/robustness/sweep.csv"))
    assert jobs == {"prepare_data": 1, "select_samples": 1, "train_checkpoint": 4, "attack": 4,
                    "verify_cell": 12, "merge_sweep": 1}


def test_new_eps_runs_only_new_cells(complete_run):
    wider = with_robustness(TINY, eps=[0.05, 0.1])
    jobs = planned_jobs(smk(complete_run, wider, "-n", "all"))
    assert jobs == {"attack": 2, "verify_cell": 6, "merge_sweep": 1, "robustness_sweep_figures": 1,
                    "robustness_convergence_figure": 1, "provenance": 1, "report_pdf": 1, "slides": 1, "all": 1}


def test_all_builds_the_report_and_snakemake_report_shows_its_figures(complete_run):
    from test_report import FIGURES, pdf_text
    sweep = pd.read_csv(complete_run / "results/robustness/sweep.csv")
    text = pdf_text(complete_run / "results/report/report.pdf")
    row = sweep[(sweep["model"] == "trm_adv") & (sweep["bound"] == "alpha-CROWN")].iloc[0]
    assert f"trm_adv alpha-CROWN 0.05 {row['verified']} {row['falsified']} {row['unknown']}" in text
    assert (complete_run / "results/report/slides.pptx").stat().st_size > 50_000
    for name in FIGURES:
        assert (complete_run / f"results/robustness/figures/{name}.svg").exists()
    html = complete_run / "report.html"
    smk(complete_run, TINY, "--report", str(html))
    shown = json.loads(re.search(r"var results = (\{.*?\});\n", html.read_text()).group(1))
    reasoning = ["accuracy_by_suite", "learning_curves", "params_vs_accuracy"]
    curvature = ["curvature_by_arrival", "mislabelled_vs_clean", "auroc", "top_curvature"]
    ssvae = ["accuracy_vs_labels", "accuracy_vs_corruption", "disentanglement"]
    assert sorted(shown) == sorted([f"results/robustness/figures/{name}.png" for name in FIGURES]
                                   + [f"results/reasoning/figures/{name}.png" for name in reasoning]
                                   + [f"results/curvature/figures/{name}.png" for name in curvature]
                                   + [f"results/ssvae/figures/{name}.png" for name in ssvae])
    assert all(entry["caption"].startswith("<p>") for entry in shown.values())


def test_a_changed_result_rebuilds_only_what_shows_it(complete_run):
    """Edit the merged sweep (one verdict of a cell moves between verified and unknown):
    its figures, the PDF and the deck are rebuilt, not the training or scaling figures,
    and the PDF states the new count. (A touch alone rebuilds nothing: same checksum.)"""
    path = complete_run / "results/robustness/sweep.csv"
    sweep = pd.read_csv(path)
    row = sweep.index[(sweep["model"] == "trm_adv") & (sweep["bound"] == "alpha-CROWN")][0]
    step = -1 if sweep.at[row, "verified"] > 0 else 1
    source = "unknown" if sweep.at[row, "unknown"] > 0 else "falsified"
    sweep.at[row, "verified"] += step
    sweep.at[row, source] -= step
    sweep.to_csv(path, index=False)
    jobs = planned_jobs(smk(complete_run, TINY, "-n", "all"))
    assert jobs == {"robustness_sweep_figures": 1, "report_pdf": 1, "slides": 1, "all": 1}
    smk(complete_run, TINY, "all")
    from test_report import pdf_text
    assert f"trm_adv alpha-CROWN 0.05 {sweep.at[row, 'verified']} {sweep.at[row, 'falsified']} " \
           f"{sweep.at[row, 'unknown']}" in pdf_text(complete_run / "results/report/report.pdf")


def test_targeted_rebuild_builds_only_what_the_file_needs(tmp_path):
    target = "results/robustness/sweep/trm_adv__seed0__crown__eps0.05.csv"
    jobs = planned_jobs(smk(tmp_path, TINY, "-n", target))
    assert jobs == {"prepare_data": 1, "train_checkpoint": 1, "select_samples": 1, "attack": 1,
                    "verify_cell": 1}


@pytest.mark.parametrize("bad,key", [
    ({"robustness": {"eps": [-0.1]}}, "robustness.eps[0]"),
    ({"robustness": {"smaples": 8}}, "robustness.smaples"),
    ({"threads": "two"}, "threads"),
    ({"reasoning": {"training": {"lr": 0.001, "epoch": 3}}}, "reasoning.training.epoch"),
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "model": {"H_cylces": 2}}}}},
     "reasoning.experiments.e.model.H_cylces"),
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-9x9"}}}}, "reasoning.experiments.e.dataset"),
])
def test_bad_config_stops_before_any_job(tmp_path, bad, key):
    proc = smk(tmp_path, bad, "all", check=False)
    assert proc.returncode != 0
    assert f"config key '{key}'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_the_report_has_a_section_per_study_from_its_own_files(complete_run):
    from test_report import pdf_text
    text = pdf_text(complete_run / "results/report/report.pdf")
    assert "1 Robustness verification of tiny recursive models" in text
    assert "2 Recursive reasoning models on Sudoku" in text and "5 Provenance" in text
    assert "3 Curvature across incremental learning (seed 003)" in text
    assert "4 Label robustness of a semi-supervised VAE (seed 004)" in text
    assert "sudoku-4x4 4x4 20 80 4 10" in text   # 20 puzzles x (1 + 3 augmentations), 10 test puzzles
    table = pd.read_csv(complete_run / "results/reasoning/experiments.csv")
    for _, row in table.iterrows():      # each experiment's exact accuracy, as the table has it
        assert f"{100 * row['exact_acc']:.1f}%" in text
    assert "architecture" in text        # the suite
    summary = pd.read_csv(complete_run / "results/curvature/summary.csv")
    assert f"{summary['auroc'].iloc[-1]:.3f}" in text     # the curvature section's last-epoch AUROC
    ssvae = pd.read_csv(complete_run / "results/ssvae/summary.csv")
    assert f"{ssvae['final_test_accuracy_mean'].iloc[-1]:.3f}" in text   # the SSVAE section's accuracy


def test_the_reasoning_dataset_loads_in_the_trm_format(complete_run):
    from tinyscale.reasoning.dataset import load_split
    folder = complete_run / "results/reasoning/data/sudoku-4x4"
    train, test = load_split(folder / "train"), load_split(folder / "test")
    assert train["metadata"]["seq_len"] == 16 and train["metadata"]["vocab_size"] == 6
    assert len(train["inputs"]) == 20 * 4 and train["metadata"]["total_groups"] == 20
    assert len(test["inputs"]) == 10 and json.loads((folder / "identifiers.json").read_text()) == ["<blank>"]


REASONING_JOBS = {"sudoku_dataset": 1, "reasoning_train": 2, "reasoning_experiments": 1, "reasoning_suite": 1,
                  "reasoning_scaling_run": 2, "reasoning_scaling_run_multinode": 1, "reasoning_scaling_table": 1,
                  "reasoning_figures": 1}
REPORT_JOBS = {"provenance": 1, "report_pdf": 1, "slides": 1, "all": 1}


def test_a_study_left_out_of_studies_is_neither_built_nor_reported(tmp_path):
    only = {**TINY, "studies": ["reasoning"]}
    jobs = planned_jobs(smk(tmp_path, only, "-n", "all"))
    assert jobs == {**REASONING_JOBS, **REPORT_JOBS}
    # ... and its targets are still there by name
    jobs = planned_jobs(smk(tmp_path, only, "-n", "results/robustness/checkpoints/trm_std__seed0.pt"))
    assert jobs == {"prepare_data": 1, "train_checkpoint": 1}


def test_a_changed_dataset_spec_rebuilds_only_that_study(complete_run):
    more = {**TINY, "reasoning": {**TINY["reasoning"], "datasets": {"sudoku-4x4": {
        **TINY["reasoning"]["datasets"]["sudoku-4x4"], "augmentations": 4}}}}
    jobs = planned_jobs(smk(complete_run, more, "-n", "all"))
    assert jobs == {**REASONING_JOBS, **REPORT_JOBS}
    smk(complete_run, TINY, "-n", "all")  # the config file back as it was


def test_experiments_table_has_a_row_per_experiment(complete_run):
    table = pd.read_csv(complete_run / "results/reasoning/experiments.csv")
    assert list(table["experiment"]) == ["trm-tiny", "hrm-tiny"]
    assert list(table["baseline"]) == [True, False] and list(table["arch"]) == ["trm", "hrm"]
    assert list(table["act"]) == ["halt", "q_learning"] and (table["suites"] == "architecture").all()
    hrm = table.iloc[1]
    assert (hrm["T"], hrm["n"], hrm["Nsup"], hrm["L_layers"], hrm["H_layers"], hrm["hidden"]) == (2, 1, 2, 1, 1, 16)
    assert (table["parameters"] > 0).all() and (table["steps"] == 10).all() and (table["device"] == "cpu").all()
    assert table["exact_acc"].between(0, 1).all() and (table["copy_exact_acc"] == 0).all()
    assert (table["train_flops"] > 0).all() and table["ref_exact_acc"].isna().all()
    # the suite's own table: the same rows
    suite = pd.read_csv(complete_run / "results/reasoning/suites/architecture.csv")
    pd.testing.assert_frame_equal(suite, table)


def test_reasoning_scaling_rows(complete_run):
    table = pd.read_csv(complete_run / "results/reasoning/scaling/scaling.csv")
    assert set(table["devices"]) == {"1xcpu", "2xcpu", "2x1xcpu"} and (table["config"] == "train TRM").all()
    # each process keeps the batch of 16: examples per pass = 16 x world size x 2 steps
    assert list(table["samples"]) == [32, 64, 64] and list(table["batch"]) == [16, 32, 32]
    assert (table["samples_per_s"] > 0).all() and (table["gpu_mem_mb"] > 100).all()


def test_one_experiment_is_a_target_built_alone(tmp_path):
    target = "results/reasoning/hrm-tiny/eval.json"
    assert planned_jobs(smk(tmp_path, TINY, "-n", target)) == {"sudoku_dataset": 1, "reasoning_train": 1}
    smk(tmp_path, TINY, target)
    assert json.loads((tmp_path / target).read_text())["model"]["arch"] == "hrm"
    assert sorted(p.name for p in (tmp_path / "results/reasoning").iterdir()) == ["data", "hrm-tiny"]


def test_adding_an_experiment_plans_only_its_jobs_and_the_merge(complete_run):
    more = {**TINY, "reasoning": {**TINY["reasoning"], "experiments": {
        **TINY["reasoning"]["experiments"], "trm-tiny-ema-off": {"dataset": "sudoku-4x4", "training": {"ema": None}}}}}
    jobs = planned_jobs(smk(complete_run, more, "-n", "results/reasoning/experiments.csv"))
    assert jobs == {"reasoning_train": 1, "reasoning_experiments": 1}
    jobs = planned_jobs(smk(complete_run, more, "-n", "all"))
    assert jobs == {"reasoning_train": 1, "reasoning_experiments": 1, "reasoning_figures": 1, **REPORT_JOBS}
    smk(complete_run, TINY, "-n", "all")  # the config file back as it was


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_torchrun_launcher_gives_the_rows_of_one_process(complete_run, tmp_path):
    """The attack and every cell, run by the rules under torchrun with 2 processes
    on the one-process run's checkpoints (DDP training is checked in
    test_distributed: it is not bit-identical to one process)."""
    import shutil
    for part in ("robustness/data", "robustness/checkpoints", "robustness/samples.npz"):
        src, dst = complete_run / "results" / part, tmp_path / "results" / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    wide = {**TINY, "launch": {"launcher": "torchrun", "nproc_per_node": 2}, "threads": 2}
    target = "results/robustness/sweep.csv"
    jobs = planned_jobs(smk(tmp_path, wide, "-n", target, "--rerun-triggers", "mtime"))
    assert jobs == {"attack": 2, "verify_cell": 6, "merge_sweep": 1}
    smk(tmp_path, wide, target, "--rerun-triggers", "mtime")
    cells = sorted((complete_run / "results/robustness/sweep").glob("*.csv"))
    assert len(cells) == 6
    keys = ["sample", "label", "prediction", "verdict", "lower_bound", "attack_margin", "bound_source"]
    for one in cells:
        two = pd.read_csv(tmp_path / "results/robustness/sweep" / one.name)
        pd.testing.assert_frame_equal(pd.read_csv(one)[keys], two[keys])
        assert (two["world_size"] == 2).all()
    assert "(2 processes)" in (tmp_path / "results/logs/robustness/attack/trm_adv__seed0__eps0.05.log").read_text()


# ---------------------------------------------------------------- the curvature study

def _with_curvature(**block) -> dict:
    return {**TINY, "curvature": {**TINY["curvature"], **block}}


def test_curvature_epochs_summary_and_detection(complete_run):
    out = complete_run / "results/curvature"
    summary = pd.read_csv(out / "summary.csv")
    assert summary["epoch"].tolist() == [0, 4, 8] and summary["classes"].tolist() == [2, 2, 4]
    # TINY's band: the last epoch's AUROC spread 0.67-0.79 over seeds 0-4 (tests/helpers.py)
    assert summary["auroc"].iloc[-1] > 0.6
    meta = json.loads((out / "epoch_0008/metadata.json").read_text())
    assert {"epoch", "total_samples", "num_gpus", "compute_time_seconds", "allowed_classes", "curvature_stats",
            "h", "niter", "probe_seed", "loss_form", "device", "world_size", "images_per_s"} <= set(meta)
    assert meta["total_samples"] == summary["images"].iloc[-1] == len(np.load(out / "epoch_0008/per_image_curvature.npy"))
    scores = pd.read_csv(out / "per_image_scores.csv")
    assert {"memorisation", "cumulative_loss", "mislabelled", "arrival_task"} <= set(scores.columns)
    assert len(pd.read_csv(out / "detection.csv")) == 4
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"index-0_epoch-{e}.pt" for e in (0, 4, 8)]
    scaling = pd.read_csv(out / "scaling/scaling.csv")
    assert sorted(scaling["devices"]) == ["1xcpu", "2x1xcpu", "2xcpu"]


def test_adding_a_task_plans_only_the_new_work(complete_run):
    more = _with_curvature(classes={**TINY["curvature"]["classes"], "tasks": 3})
    jobs = planned_jobs(smk(complete_run, more, "-n", "results/curvature/summary.csv"))
    assert jobs == {"curvature_task_2": 1, "curvature_epoch": 1, "curvature_summary": 1}
    smk(complete_run, TINY, "-n", "all")  # the config file back as it was


def test_one_epoch_is_a_target(tmp_path):
    jobs = planned_jobs(smk(tmp_path, TINY, "-n", "results/curvature/epoch_0004/per_image_curvature.npy"))
    assert jobs == {"curvature_data": 1, "curvature_init": 1, "curvature_task_0": 1, "curvature_epoch": 1}


def test_own_checkpoints_are_analysed_instead_of_training(complete_run, tmp_path):
    own = tmp_path / "model_parameters"
    shutil.copytree(complete_run / "results/curvature/checkpoints", own)
    config = _with_curvature(checkpoints=str(own))
    jobs = planned_jobs(smk(tmp_path, config, "-n", "results/curvature/summary.csv"))
    assert jobs == {"curvature_data": 1, "curvature_checkpoints": 1, "curvature_epoch": 3, "curvature_summary": 1}
    (own / "index-0_epoch-4.pt").unlink()
    proc = smk(tmp_path, config, "-n", "results/curvature/summary.csv", check=False)
    assert proc.returncode != 0
    assert f"{own}/index-0_epoch-4.pt does not exist" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def _with_ssvae(**block) -> dict:
    return {**TINY, "ssvae": {**TINY["ssvae"], **block}}


def test_ssvae_grid_points_and_their_merge(complete_run):
    out = complete_run / "results/ssvae"
    runs = sorted(p.relative_to(out / "runs").parent.as_posix() for p in (out / "runs").rglob("metrics.json"))
    assert runs == [f"n_labels~{n}/corruption~0.0/alpha~50.0/seed~{s}" for n in (20, 50) for s in (0, 1)]
    record = json.loads((out / "runs/n_labels~20/corruption~0.0/alpha~50.0/seed~1/metrics.json").read_text())
    assert {"dataset", "n_labels", "corruption_rate", "alpha", "seed", "final_test_elbo", "final_test_accuracy",
            "curves", "disentanglement", "config", "labelled", "device", "world_size", "seconds"} <= set(record)
    assert record["curves"]["epoch"] == [1, 2, 3, 4, 5] and record["labelled"]["count"] == 20
    assert record["labelled"]["per_class"] == [2] * 10
    grid = pd.read_csv(out / "grid.csv")
    assert len(grid) == 4 and grid["labelled_sha256"].nunique() == 4
    summary = pd.read_csv(out / "summary.csv")
    assert summary["n_labels"].tolist() == [20, 50] and (summary["seeds"] == 2).all()
    # TINY's bands (tests/helpers.py): every point learns; more labels, higher accuracy
    assert (grid["final_test_accuracy"] > 0.35).all()
    assert summary["final_test_accuracy_mean"].is_monotonic_increasing
    assert not list((out / "runs").rglob("resume"))        # the saved states go when a point is done
    assert sorted(pd.read_csv(out / "scaling/scaling.csv")["devices"]) == ["1xcpu", "2xcpu"]


def test_adding_a_seed_plans_only_its_points_and_the_merge(complete_run):
    more = _with_ssvae(grid={**TINY["ssvae"]["grid"], "seeds": [0, 1, 2]})
    jobs = planned_jobs(smk(complete_run, more, "-n", "results/ssvae/grid.csv"))
    assert jobs == {"ssvae_point": 2, "ssvae_grid": 1}
    smk(complete_run, TINY, "-n", "all")  # the config file back as it was


def test_a_point_outside_the_grid_is_a_target_and_a_bad_one_an_error(tmp_path):
    target = "results/ssvae/runs/n_labels~30/corruption~0.1/alpha~5.0/seed~7/metrics.json"
    assert planned_jobs(smk(tmp_path, TINY, "-n", target)) == {"ssvae_point": 1}
    proc = smk(tmp_path, TINY, "results/ssvae/runs/n_labels~30/corruption~1.5/alpha~5.0/seed~7/metrics.json",
               check=False)
    assert proc.returncode != 0 and "corruption 1.5 is not a fraction in [0, 1]" in proc.stdout + proc.stderr
    assert not list((tmp_path / "results/ssvae").rglob("*.json"))


def test_a_truncated_mnist_file_stops_the_point_naming_it_with_nothing_written(tmp_path):
    from helpers import write_idx

    mnist = tmp_path / "mnist"
    mnist.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 120), ("t10k", 30)):
        write_idx(mnist / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(mnist / f"{prefix}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)
    broken = mnist / "train-images-idx3-ubyte"
    broken.write_bytes(broken.read_bytes()[:-100])
    config = _with_ssvae(data={"dataset": "mnist", "path": str(mnist)},
                         grid={"seeds": [0], "slices": {"one": {"n_labels": [20], "corruption": [0], "alpha": [50]}}})
    work = tmp_path / "work"
    work.mkdir()
    proc = smk(work, config, "results/ssvae/grid.csv", check=False)
    assert proc.returncode != 0
    log = (work / "results/logs/ssvae/runs/n_labels~20/corruption~0.0/alpha~50.0/seed~0.log").read_text()
    assert log.strip().splitlines()[-1] == f"error: {broken}: truncated: shape (120, 28, 28) needs 94080 data bytes, found 93980"
    assert not list((work / "results/ssvae").rglob("*.json")) and not list((work / "results/ssvae").rglob("*.pt"))


def test_stacked_seeds_write_each_seeds_point(tmp_path):
    config = _with_ssvae(training={**TINY["ssvae"]["training"], "stack_seeds": True},
                         grid={**TINY["ssvae"]["grid"], "slices": {"one": {"n_labels": [20], "corruption": [0],
                                                                           "alpha": [50]}}})
    assert planned_jobs(smk(tmp_path, config, "-n", "results/ssvae/grid.csv")) == {"ssvae_point_seeds": 1,
                                                                                  "ssvae_grid": 1}
    smk(tmp_path, config, "results/ssvae/grid.csv")
    grid = pd.read_csv(tmp_path / "results/ssvae/grid.csv")
    assert grid["seed"].tolist() == [0, 1] and grid["labelled_sha256"].nunique() == 2
    record = json.loads((tmp_path / "results/ssvae/runs/n_labels~20/corruption~0.0/alpha~50.0/seed~1/metrics.json")
                        .read_text())
    assert record["stacked_seeds"] == [0, 1] and record["curves"]["epoch"] == [1, 2, 3, 4, 5]
