"""The Slurm profile on a real Slurm cluster: slurmctld, two slurmd (nodes n1
and n2), slurmdbd with MariaDB, munge, started on this machine by
tests/slurm/cluster.sh. Needs root (CI runs as root); skipped otherwise."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT, TINY, planned_jobs, smk, with_robustness, write_idx
from tinyscale.robustness.data import load_digits_split

CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
TIMEOUT = ("timeout", "-k", "10", "900")   # snakemake under Slurm must never hang a CI run
PROFILE = ("--profile", str(ROOT / "profiles" / "slurm"),
           "--slurm-init-seconds-before-status-checks", "2")
# data, both checkpoints, a sweep cell per model, a 1-node and a 2-node scaling run; the
# reasoning study's suite: a TRM on one process and an HRM on two (DDP); the curvature study's
# one task, each of its epochs analysed across 2 nodes, and a 2-node throughput run; two points
# of the SSVAE grid, a job each
CONFIG = with_robustness(TINY, methods=["crown"],
                         scaling={"grid": [[1, 1], [2, 1]], "repeats": 1, "min_seconds": 0})
CONFIG["reasoning"] = {**TINY["reasoning"], "scaling": {"grid": [[1, 1]], "repeats": 1, "min_seconds": 0},
                       "experiments": {**TINY["reasoning"]["experiments"], "hrm-tiny": {
                           **TINY["reasoning"]["experiments"]["hrm-tiny"], "launch": {"nproc_per_node": 2}}}}
CONFIG["curvature"] = {**TINY["curvature"], "classes": {**TINY["curvature"]["classes"], "tasks": 1},
                       "analysis": {"nnodes": 2}, "scaling": {"grid": [[2, 1]], "repeats": 1, "min_seconds": 0}}
CONFIG["ssvae"] = {**TINY["ssvae"], "grid": {**TINY["ssvae"]["grid"], "seeds": [0]}}
# what the Slurm run builds: each study's results, not their figures and report (local rules)
TARGETS = ("results/robustness/sweep.csv", "results/robustness/scaling/scaling.csv",
           "results/reasoning/suites/architecture.csv", "results/curvature/summary.csv",
           "results/curvature/scaling/scaling.csv", "results/ssvae/grid.csv")
CELL_KEYS = ["sample", "label", "prediction", "verdict", "lower_bound", "attack_margin", "bound_source"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="starting a Slurm cluster needs root")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    subprocess.run([CLUSTER, "install"], check=True, timeout=900)
    state = tmp_path_factory.mktemp("slurm")
    subprocess.run([CLUSTER, "start", str(state)], check=True, timeout=300)
    yield state
    subprocess.run([CLUSTER, "stop", str(state)], check=True, timeout=300)


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("on_slurm")
    smk(workdir, CONFIG, *PROFILE, *TARGETS, prefix=TIMEOUT, timeout=960)
    return workdir


def sacct(*fields: str) -> list[dict]:
    out = subprocess.run(["sacct", "-a", "-n", "-P", "-S", "now-1day", "-o", ",".join(fields)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines()]


def test_slurm_gives_the_rows_and_verdicts_of_the_local_run(complete_run, slurm_run):
    """The local tiny campaign (TINY: CONFIG with every method and the whole scaling grid) against
    the Slurm run's CROWN cells, checkpoints and scaling layout."""
    local = complete_run
    for name in ("trm_adv__seed0__crown__eps0.05.csv", "trm_std__seed0__crown__eps0.05.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(local / "results/robustness/sweep" / name)[CELL_KEYS],
                                      pd.read_csv(slurm_run / "results/robustness/sweep" / name)[CELL_KEYS])
    counts = ["model", "epsilon", "verified", "falsified", "unknown", "timeout", "misclassified", "total"]
    crown = pd.read_csv(local / "results/robustness/sweep.csv").query("bound == 'CROWN'").reset_index(drop=True)
    pd.testing.assert_frame_equal(crown[counts], pd.read_csv(slurm_run / "results/robustness/sweep.csv")[counts])
    for model in ("trm_std", "trm_adv"):
        metrics = [json.loads((run / f"results/robustness/checkpoints/{model}__seed0.json").read_text())
                   for run in (local, slurm_run)]
        assert metrics[0]["clean_acc"] == metrics[1]["clean_acc"]
        assert metrics[0]["pgd_acc"] == metrics[1]["pgd_acc"]
    scaling = ["devices", "batch", "samples", "nodes", "procs_per_node", "world_size"]
    on_slurm = pd.read_csv(slurm_run / "results/robustness/scaling/scaling.csv")[scaling]
    here = pd.read_csv(local / "results/robustness/scaling/scaling.csv")[scaling].drop_duplicates()
    here = here[here["devices"].isin(on_slurm["devices"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(here, on_slurm)
    # the SSVAE points trained under Slurm are the local ones
    for n in (20, 50):
        point = f"results/ssvae/runs/n_labels~{n}/corruption~0.0/alpha~50.0/seed~0/metrics.json"
        a, b = (json.loads((run / point).read_text()) for run in (local, slurm_run))
        assert (a["final_test_accuracy"], a["curves"], a["labelled"]) == (b["final_test_accuracy"], b["curves"],
                                                                          b["labelled"])


def test_every_job_ran_under_slurm_with_its_logs(slurm_run):
    logs = (slurm_run / "results/logs/slurm").rglob("*.log")   # rule_<name>/[<wildcards>/]<job id>.log
    rules = {p.relative_to(slurm_run / "results/logs/slurm").parts[0] for p in logs}
    assert rules == {f"rule_{r}" for r in ("prepare_data", "train_checkpoint", "select_samples", "attack",
                                            "verify_cell", "merge_sweep", "scaling_run",
                                            "scaling_run_multinode", "scaling_table", "sudoku_dataset",
                                            "reasoning_train", "curvature_data", "curvature_init",
                                            "curvature_task_0", "curvature_epoch",
                                            "curvature_scaling_run_multinode", "curvature_scaling_table",
                                            "ssvae_point")}, rules
    assert (slurm_run / "results/logs/robustness/train/trm_adv__seed0.log").read_text().strip()
    # the reasoning study's suite ran as Slurm jobs too: its HRM as 2 DDP processes
    for name, world_size in (("trm-tiny", 1), ("hrm-tiny", 2)):
        assert "test exact accuracy" in (slurm_run / f"results/logs/reasoning/{name}.log").read_text()
        assert json.loads((slurm_run / f"results/reasoning/{name}/eval.json").read_text())["world_size"] == world_size
    suite = pd.read_csv(slurm_run / "results/reasoning/suites/architecture.csv")
    assert list(suite["experiment"]) == ["trm-tiny", "hrm-tiny"] and list(suite["world_size"]) == [1, 2]
    grid = pd.read_csv(slurm_run / "results/ssvae/grid.csv")
    assert list(grid["n_labels"]) == [20, 50] and (grid["world_size"] == 1).all()
    # a local rule runs on the submitting host, with its own log
    assert (slurm_run / "results/logs/curvature/summary.log").read_text().strip()


def test_a_curvature_epoch_is_analysed_across_two_nodes(slurm_run):
    for epoch in ("0000", "0004"):
        meta = json.loads((slurm_run / f"results/curvature/epoch_{epoch}/metadata.json").read_text())
        assert meta["world_size"] == 2 and meta["total_samples"] > 0
        log = (slurm_run / f"results/logs/curvature/epoch_{epoch}.log").read_text()
        assert "multinode: srun --nodes 2" in log and "--rdzv-backend c10d" in log
    row = pd.read_csv(slurm_run / "results/curvature/scaling/scaling.csv").iloc[0]
    assert (row["nodes"], row["world_size"]) == (2, 2)


def test_the_two_node_run_spans_both_nodes_through_srun(slurm_run):
    log = (slurm_run / "results/logs/robustness/scaling/sweep/2n1p_run1.log").read_text()
    assert "multinode: srun --nodes 2 --ntasks 2 --ntasks-per-node=1" in log
    assert "--rdzv-backend c10d" in log
    steps = [s for s in sacct("JobID", "NNodes", "NodeList", "State")
             if "." in s["JobID"] and s["NNodes"] == "2" and s["State"] == "COMPLETED"]
    assert any(s["NodeList"] == "n[1-2]" for s in steps), steps
    row = pd.read_csv(slurm_run / "results/robustness/scaling/sweep/2n1p_run1.csv").iloc[0]
    assert (row["nodes"], row["world_size"], row["samples"]) == (2, 2, 8)


def _mnist_from_digits(folder, truncate_labels: bool):
    """The digits split written as the four MNIST IDX files (8x8 pixels as uint8)."""
    ds = load_digits_split(0.2, 0)
    folder.mkdir(exist_ok=True)
    for prefix, part in (("train", "train"), ("t10k", "test")):
        x, y = ds.tensors(part)
        write_idx(folder / f"{prefix}-images-idx3-ubyte",
                  np.round(x.numpy().reshape(-1, 8, 8) * 255).astype(np.uint8))
        labels = write_idx(folder / f"{prefix}-labels-idx1-ubyte", y.numpy().astype(np.uint8))
        if truncate_labels and prefix == "train":
            labels.write_bytes(labels.read_bytes()[:-10])   # an interrupted download


def test_a_failing_job_fails_the_run_and_a_rerun_completes_it(cluster, tmp_path):
    mnist = tmp_path / "mnist"
    _mnist_from_digits(mnist, truncate_labels=True)
    config = with_robustness(CONFIG, data={"source": "mnist", "mnist_dir": str(mnist)})
    target = "results/robustness/checkpoints/trm_std__seed0.json"
    failed = smk(tmp_path, config, *PROFILE, target, check=False, prefix=TIMEOUT, timeout=960)
    assert failed.returncode != 0
    log = (tmp_path / "results/logs/robustness/data/mnist.log").read_text()
    assert "train-labels-idx1-ubyte" in log, log
    assert not (tmp_path / "results/robustness/data/mnist.npz").exists()
    # the profile's retries (1) ran it once more, no further; Snakemake names the rule and its log
    jobs = [s for s in sacct("JobID", "JobName", "State", "WorkDir") if s["WorkDir"] == str(tmp_path)
            and "." not in s["JobID"]]
    assert [s["State"] for s in jobs] == ["FAILED", "FAILED"], jobs
    out = failed.stdout + failed.stderr
    assert "Error in rule prepare_data" in out and "results/logs/robustness/data/mnist.log" in out

    _mnist_from_digits(mnist, truncate_labels=False)   # the download is repaired
    assert planned_jobs(smk(tmp_path, config, *PROFILE, "-n", target)) == {
        "prepare_data": 1, "train_checkpoint": 1}
    smk(tmp_path, config, *PROFILE, target, prefix=TIMEOUT, timeout=960)
    assert json.loads((tmp_path / target).read_text())["data"] == "mnist"


def test_a_time_limit_kills_training_and_the_retries_resume_it(cluster, tmp_path):
    """An SSVAE point of about two minutes' training under a one-minute time limit: Slurm kills it
    (TIMEOUT), Snakemake retries it, each attempt resumes from the last saved state (every 5 s), and
    the point ends as a local uninterrupted run of it (started beside the Slurm run)."""
    block = {**TINY["ssvae"], "training": {**TINY["ssvae"]["training"], "epochs": 1500, "eval_frequency": 500,
                                           "checkpoint_every_s": 5}}
    config = {**CONFIG, "ssvae": block}
    point = "results/ssvae/runs/n_labels~20/corruption~0.0/alpha~50.0/seed~0"
    from tinyscale.config import validate
    resolved = validate(json.loads(json.dumps(config)))["ssvae"]
    resolved = {k: resolved[k] for k in ("data", "model", "training", "metrics")}      # as the rule passes it
    resolved["training"] = {k: v for k, v in resolved["training"].items() if k != "stack_seeds"}
    local = tmp_path / "local"
    reference = subprocess.Popen(
        [sys.executable, str(ROOT / "workflow/scripts/ssvae/train_point.py"), "--block", json.dumps(resolved),
         "--n-labels", "20", "--corruption", "0", "--alpha", "50", "--seed", "0", "--out", str(local / "metrics.json"),
         "--state-dir", str(local / "resume"), "--threads", "1"], stderr=subprocess.DEVNULL)
    work = tmp_path / "on_slurm"
    work.mkdir()
    smk(work, config, *PROFILE, "--set-resources", "ssvae_point:runtime=1", "--retries", "3",
        f"{point}/metrics.json", prefix=("timeout", "-k", "10", "600"), timeout=660)
    assert reference.wait(timeout=600) == 0
    jobs = [s for s in sacct("JobID", "State", "Start", "End", "Elapsed", "Timelimit", "WorkDir")
            if s["WorkDir"] == str(work) and "." not in s["JobID"]]
    states = [s["State"] for s in jobs]
    assert states[-1] == "COMPLETED" and "TIMEOUT" in states[:-1], jobs
    print("time-limit run:", json.dumps(jobs))
    log = (work / f"results/logs/ssvae/runs/{point.split('runs/')[1]}.log").read_text()
    assert "resume: continuing from step" in log
    a, b = (json.loads(p.read_text()) for p in (local / "metrics.json", work / point / "metrics.json"))
    assert b["resumed_from_step"] > 0
    times = ("seconds", "wall_seconds", "images_per_s", "resumed_from_step")
    assert {k: v for k, v in a.items() if k not in times} == {k: v for k, v in b.items() if k not in times}