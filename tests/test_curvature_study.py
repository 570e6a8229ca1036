"""The curvature study's scripts: a task resumes after kill -9, the analysis gives the same files on
1 and 2 processes and 2 nodes, the user's checkpoints are checked, and the training recipe."""
from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tinyscale.config import validate
from tinyscale.curvature import settings as cs
from tinyscale.curvature.models import build_model
from tinyscale.curvature.results import ARRAYS
from tinyscale.curvature.training import save_weights
from tinyscale.train import lr_at_step

from helpers import TINY, run_script, smk
from test_distributed import run, standalone, two_nodes

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "curvature"
BLOCK = validate(copy.deepcopy(TINY))["curvature"]


def _json(key: str) -> str:
    return json.dumps(BLOCK[key])


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """The data files, the untrained net and task 0's checkpoints of the tiny config."""
    d = tmp_path_factory.mktemp("curvature")
    for cmd in (["prepare_data.py", "--data", _json("data"), "--out", d / "data.npz", "--order", d / "order.npy"],
                ["init_checkpoint.py", "--data", _json("data"), "--model", _json("model"), "--out", d / "e0.pt"]):
        proc = run_script(f"curvature/{cmd[0]}", *cmd[1:])
        assert proc.returncode == 0, proc.stderr
    proc = run_script("curvature/train_task.py", *task_args(d, d / "t0"))
    assert proc.returncode == 0, proc.stderr
    return d


def task_args(d: Path, out: Path, training: dict | None = None, epochs=(2, 4)) -> list[str]:
    return [str(a) for a in [
        "--data", _json("data"), "--model", _json("model"), "--training", json.dumps(training or BLOCK["training"]),
        "--task", 0, "--classes", 2, "--split", d / "data.npz", "--order", d / "order.npy", "--start", d / "e0.pt",
        "--epochs", *epochs, "--checkpoints", *(out / f"e{e}.pt" for e in epochs), "--history", out / "history.csv",
        "--state-dir", out / "resume", "--threads", 1]]


def analysis_args(d: Path, out: Path, checkpoint: Path | None = None) -> list[str]:
    analysis = {**BLOCK["analysis"], "batch_size": 64}     # several batches, so that 2 ranks share them
    return [str(a) for a in ["--data", _json("data"), "--model", _json("model"), "--analysis", json.dumps(analysis),
                             "--epoch", 4, "--classes", 2, "--split", d / "data.npz", "--order", d / "order.npy",
                             "--checkpoint", checkpoint or d / "t0" / "e4.pt", "--out", out, "--threads", 1]]


def test_the_class_order_is_a_seeded_permutation_in_the_seeds_form(study):
    order = np.load(study / "order.npy", allow_pickle=False)
    assert order.dtype == np.int64 and sorted(order) == list(range(10))
    with np.load(study / "data.npz") as z:
        assert z["mislabelled"].sum() == round(0.1 * len(z["train_index"]))
        assert not z["mislabelled"][z["val_index"]].any()          # validation keeps true labels
        assert (z["labels"] != z["true_labels"]).sum() == z["mislabelled"].sum()


def test_a_task_writes_its_checkpoints_and_history(study):
    history = (study / "t0" / "history.csv").read_text().splitlines()
    assert history[0].split(",")[:2] == ["epoch", "task"] and len(history) == 1 + 4
    state = torch.load(study / "t0" / "e4.pt", weights_only=True)
    assert set(state) == set(build_model(BLOCK["model"], 1, 10).state_dict())    # a plain state dict
    assert not (study / "t0" / "resume").exists()


def test_a_killed_task_resumes_to_the_uninterrupted_result(study, tmp_path):
    training = {**BLOCK["training"], "epochs_per_task": 40, "checkpoint_every": 10}
    epochs = (10, 20, 30, 40)
    args = lambda out: [sys.executable, str(SCRIPTS / "train_task.py"), *task_args(study, out, training, epochs)]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run(args(whole))
    with open(tmp_path / "killed.log", "w") as fh:
        proc = subprocess.Popen(args(killed), stderr=fh)
    deadline = time.monotonic() + 120     # killed once epoch 10 is saved (its state too: each epoch saves one)
    while not (killed / "resume" / "epoch-10.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the task finished before it could be killed"
    assert not (killed / "e40.pt").exists() and list((killed / "resume").glob("*.rank0.pt"))
    rerun = run(args(killed))
    assert "resume: continuing from step" in rerun.stderr
    assert (whole / "history.csv").read_bytes() == (killed / "history.csv").read_bytes()
    for e in epochs:
        a, b = (torch.load(d / f"e{e}.pt", weights_only=True) for d in (whole, killed))
        assert all(torch.equal(a[k], b[k]) for k in a), e


def test_one_two_processes_and_two_nodes_write_equal_files(study, tmp_path):
    one, two, nodes = tmp_path / "one", tmp_path / "two", tmp_path / "nodes"
    script = str(SCRIPTS / "analyse_epoch.py")
    run([sys.executable, script, *analysis_args(study, one)])
    run([*standalone(2), script, *analysis_args(study, two)])
    two_nodes([script, *analysis_args(study, nodes)])
    meta = json.loads((two / "metadata.json").read_text())
    assert meta["world_size"] == 2 and meta["total_samples"] > 64
    assert json.loads((nodes / "metadata.json").read_text())["world_size"] == 2
    for name in ARRAYS.values():
        a = np.load(one / name)
        assert np.array_equal(a, np.load(two / name)) and np.array_equal(a, np.load(nodes / name)), name
    labels, index = np.load(one / "per_image_labels.npy"), np.load(one / "per_image_index.npy")
    order = np.load(study / "order.npy")
    assert set(labels) <= set(order[:2]) and np.all(np.diff(index) > 0)    # active classes, in image order


def test_a_checkpoint_of_another_net_stops_with_one_error_naming_it(study, tmp_path):
    other = tmp_path / "index-0_epoch-4.pt"
    save_weights(other, build_model({"widths": [4, 8], "blocks": [1, 1]}, 1, 10).state_dict())
    proc = run_script("curvature/check_checkpoints.py", "--data", _json("data"), "--model", _json("model"),
                      "--out", tmp_path / "checked.json", study / "e0.pt", other)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(other) in errors[0] and "shape" in errors[0], proc.stderr
    assert not (tmp_path / "checked.json").exists()
    proc = run_script("curvature/analyse_epoch.py", *analysis_args(study, tmp_path / "out", other))
    assert proc.returncode == 2 and str(other) in proc.stderr and not (tmp_path / "out").exists()


def test_the_recipe_restarts_the_lr_at_every_task_with_step_decays():
    from tinyscale.curvature.training import task_settings

    s = task_settings({**BLOCK["training"], "epochs_per_task": 200, "lr_milestones": [60, 120, 160]}, 10)
    lrs = [lr_at_step(t, s.steps, 0, s.lr, s.lr_schedule, 0, s.lr_milestones, s.lr_gamma) for t in (0, 599, 600, 1200, 1999)]
    assert s.optimizer == "sgd" and s.momentum == 0.9 and s.weight_decay == 5e-4 and s.steps == 2000
    assert lrs == pytest.approx([0.1, 0.1, 0.02, 0.004, 0.0008])


def test_the_schedule_of_tasks_and_classes():
    b = copy.deepcopy(BLOCK)
    assert cs.saved_epochs(b) == [0, 4, 8] and cs.task_epochs(b, 1) == [8]
    # epoch 4 ends task 0: its checkpoint saw task 0's classes; the seed's rule counts task 1's
    assert [cs.trained_task(b, e) for e in (0, 4, 8)] == [0, 0, 1]
    b["analysis"]["seed_compatible"] = True
    assert [cs.trained_task(b, e) for e in (0, 4, 8)] == [0, 1, 1]
    assert [cs.arrival_task(b, i) for i in range(6)] == [0, 0, 1, 1, 2, 2]


def test_early_stopping_ends_a_task_on_its_best_validation_weights(study, tmp_path):
    training = {**BLOCK["training"], "epochs_per_task": 6, "checkpoint_every": 1, "lr": 0.5,
                "lr_milestones": [], "early_stopping": True}
    epochs = tuple(range(1, 7))
    run([sys.executable, str(SCRIPTS / "train_task.py"), *task_args(study, tmp_path, training, epochs)])
    history = pd.read_csv(tmp_path / "history.csv")
    best = int(history.loc[history["val_acc"].idxmax(), "epoch"])    # the first of equal bests
    final = torch.load(tmp_path / "e6.pt", weights_only=True)
    if best < 6:
        kept = torch.load(tmp_path / f"e{best}.pt", weights_only=True)
        assert all(torch.equal(final[k], kept[k]) for k in final)
    assert history["val_acc"].iloc[-1] <= history["val_acc"].max()


def test_a_class_order_file_that_is_not_a_permutation_is_named(tmp_path):
    bad = tmp_path / "index-0.npy"
    np.save(bad, np.array([0, 1, 2, 2, 4, 5, 6, 7, 8, 9]))
    proc = run_script("curvature/prepare_data.py", "--data", _json("data"), "--order-from", bad,
                      "--out", tmp_path / "data.npz", "--order", tmp_path / "order.npy")
    assert proc.returncode == 2 and str(bad) in proc.stderr and "permutation" in proc.stderr, proc.stderr
    assert not (tmp_path / "data.npz").exists()


def test_a_cifar100_folder_and_a_class_order_file_through_the_rules(tmp_path):
    """The real CIFAR-100 format (tests/test_curvature_data.py writes it) with 10 populated classes,
    the user's class order putting 5 of them first: data, task 0 and its epochs' curvature."""
    from test_curvature_data import py2_dumps, meta_dict, split_dict

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    labels = [(3 * i) % 10 * 7 for i in range(200)]                   # classes 0, 7, ..., 63
    (folder / "train").write_bytes(py2_dumps(split_dict(200, labels)))
    (folder / "test").write_bytes(py2_dumps(split_dict(20, labels[:20])))
    (folder / "meta").write_bytes(py2_dumps(meta_dict()))
    order = [63, 7, 21, 0, 42] + [c for c in range(100) if c not in (63, 7, 21, 0, 42)]
    np.save(tmp_path / "index-0.npy", np.array(order))
    config = {"studies": ["curvature"], "threads": 1, "curvature": {
        "data": {"dataset": "cifar100", "path": str(folder), "label_noise": 0.0},
        "classes": {"order": str(tmp_path / "index-0.npy"), "first": 5, "per_task": 5, "tasks": 1},
        "model": {"widths": [8], "blocks": [1]},
        "training": {"epochs_per_task": 2, "checkpoint_every": 2, "lr_milestones": [1],
                     "augment": {"flip": True, "crop_padding": 4, "rotation_degrees": 15}}}}
    smk(tmp_path, config, "results/curvature/summary.csv")
    summary = pd.read_csv(tmp_path / "results/curvature/summary.csv")
    assert summary["epoch"].tolist() == [0, 2]
    assert summary["active_classes"].iloc[-1] == "63 7 21 0 42"
    assert summary["images"].iloc[-1] == 90                # 100 of those classes' images less 10 held out
    assert np.load(tmp_path / "results/curvature/class_order.npy").tolist() == order
