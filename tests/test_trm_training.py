"""TRM training as a script: resume after kill -9, 1 vs 2 processes and 2 nodes, bf16 on the
CPU, bad dataset folders, the XLA device."""
from __future__ import annotations

import copy
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tinyscale.config import validate
from tinyscale.reasoning import dataset, settings
from tinyscale.reasoning.training import Split, evaluate, load_model
from tinyscale.dist import SINGLE
from tinyscale.trainer import Resume

from helpers import TINY, smk
from test_distributed import TORCHRUN, run, standalone, two_nodes
from test_xla import TPU_PY, needs_tpu_venv

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "workflow" / "scripts" / "reasoning" / "train.py"
EXP = settings.experiment(validate(copy.deepcopy(TINY))["reasoning"], "trm-tiny")
# A model that learns 4x4 boards in seconds (exact accuracy ~0.9 on held-out puzzles).
MODEL = {**EXP["model"], "hidden": 32, "L_layers": 2}
TRAINING = {**EXP["training"], "epochs": 40, "eval_interval": 20, "batch_size": 32, "lr": 3e-3,
            "warmup_steps": 10, "ema": 0.99}   # the recipe its accuracy band was measured with


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sudoku") / "sudoku-4x4"
    dataset.build_from_spec(d, {"source": "generate", "size": 4, "givens": [6, 8], "train_puzzles": 120,
                                "test_puzzles": 60, "augmentations": 5}, seed=0)
    return d


def train_cmd(data: Path, out: Path, training: dict = TRAINING, model: dict = MODEL, seed: int = 0,
              device: str = "cpu") -> list[str]:
    return [str(SCRIPT), "--data", str(data), "--model", json.dumps(model), "--training", json.dumps(training),
            "--out", str(out), "--state-dir", str(out / "resume"), "--seed", str(seed), "--device", device,
            "--threads", "1"]


def result(out: Path) -> tuple[dict, dict]:
    return json.loads((out / "eval.json").read_text()), torch.load(out / "model.pt", weights_only=True)


# ---------------------------------------------------------------- resume

def test_a_killed_run_resumes_to_the_uninterrupted_result(data, tmp_path):
    training = {**TRAINING, "epochs": 28, "checkpoint_every_s": 0.05}     # 105 steps
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run([sys.executable, *train_cmd(data, whole, training)])
    assert not (whole / "resume").exists()            # a finished run removes its state

    log = tmp_path / "killed.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, *train_cmd(data, killed, training)], stderr=fh)
    saved = 0
    deadline = time.monotonic() + 120
    while saved < 40 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        lines = [ln for ln in log.read_text().splitlines() if "state saved at step" in ln]
        saved = int(lines[-1].rsplit(" ", 1)[1]) if lines else 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "model.pt").exists() and list((killed / "resume").glob("*.rank0.pt"))

    rerun = run([sys.executable, *train_cmd(data, killed, training)])
    assert "resume: continuing from step" in rerun.stderr
    a, b = result(whole), result(killed)
    assert b[0]["resumed_from_step"] >= 40
    assert (whole / "metrics.csv").read_bytes() == (killed / "metrics.csv").read_bytes()
    assert a[1]["state_dict"].keys() == b[1]["state_dict"].keys()
    for k, v in a[1]["state_dict"].items():
        assert torch.equal(v, b[1]["state_dict"][k]), k
    assert not (killed / "resume").exists()


def test_a_state_saved_under_other_settings_is_ignored_with_a_log_line(tmp_path, caplog):
    Resume(tmp_path, {"lr": 1e-3}).save({"step": 3})
    assert Resume(tmp_path, {"lr": 1e-3}).load()["step"] == 3
    with caplog.at_level(logging.INFO, logger="tinyscale"):
        assert Resume(tmp_path, {"lr": 2e-3}).load() is None
    assert "ignoring saved state" in caplog.text
    assert Resume(tmp_path, {"lr": 1e-3}, rank=0, world_size=2).load() is None   # another world size


# ---------------------------------------------------------------- processes and nodes

def test_one_two_processes_and_two_nodes_reach_the_same_band(data, tmp_path):
    run([sys.executable, *train_cmd(data, tmp_path / "p1")])
    run([*standalone(2), *train_cmd(data, tmp_path / "p2")])
    two_nodes(train_cmd(data, tmp_path / "n2"))
    acc = {t: result(tmp_path / t)[0] for t in ("p1", "p2", "n2")}
    assert [acc[t]["world_size"] for t in ("p1", "p2", "n2")] == [1, 2, 2]
    exact = {t: acc[t]["test"]["exact_acc"] for t in acc}
    # Bands: this recipe's held-out exact accuracy (60 puzzles: 1.7 points each) over seeds
    # 0-4 was 0.83-0.93 in one process and the same per seed in two (seed 4: 0.83 vs 0.85;
    # torch 2.13 CPU, 1 thread a process). Another CPU's float path is at worst another
    # seed: the floor and the spread leave that room and more.
    for t in exact:
        assert exact[t] >= 0.7, exact
    assert max(exact.values()) - min(exact.values()) <= 0.15, exact


# ---------------------------------------------------------------- precision, bad input

def test_bf16_autocast_trains_on_the_cpu(data, tmp_path):
    training = {**TRAINING, "precision": "bf16", "epochs": 1, "eval_interval": 1}
    run([sys.executable, *train_cmd(data, tmp_path / "bf16", training)])
    report, _ = result(tmp_path / "bf16")
    assert report["precision"] == "bf16" and np.isfinite(report["test"]["lm_loss"])
    # TensorBoard: a scalar series for the lr and every metric of metrics.csv
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "bf16" / "tensorboard"))
    events.Reload()
    columns = (tmp_path / "bf16" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert set(columns) - {"step"} <= set(events.Tags()["scalars"]) and "lr" in events.Tags()["scalars"]


def test_fp16_off_cuda_names_the_key(data, tmp_path):
    proc = subprocess.run([sys.executable, *train_cmd(data, tmp_path / "o", {**TRAINING, "precision": "fp16"})],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "fp16" in proc.stderr and not (tmp_path / "o").exists()


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_broken_dataset_file_is_named_and_nothing_is_written(data, tmp_path, damage):
    broken = tmp_path / "data"
    subprocess.run(["cp", "-r", str(data), str(broken)], check=True)
    npy = broken / "train" / "all__labels.npy"
    if damage == "missing":
        npy.unlink()
    else:
        npy.write_bytes(npy.read_bytes()[:-40])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, *train_cmd(broken, out)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert str(npy) in proc.stderr and proc.stderr.count("error:") == 1
    assert not out.exists()


# ---------------------------------------------------------------- XLA

@needs_tpu_venv
def test_xla_training_through_the_tpu_profile(tmp_path, monkeypatch):
    """`snakemake --profile profiles/tpu` trains a TRM on the XLA device (PJRT CPU): XLA's
    metrics in the log, a bounded number of compilations, and a model.pt that loads here
    and scores what eval.json says."""
    monkeypatch.setenv("PJRT_DEVICE", "CPU")
    monkeypatch.setenv("CPU_NUM_DEVICES", "1")
    experiment = {"dataset": "sudoku-4x4", "model": MODEL,
                  "training": {"epochs": 120, "eval_interval": 60, "batch_size": 32, "xla_metrics_every": 20}}
    cfg = {**TINY, "studies": ["reasoning"],
           "reasoning": {**TINY["reasoning"], "experiments": {"trm-xla": experiment}, "suites": {}}}
    smk(tmp_path, cfg, "--profile", str(ROOT / "profiles" / "tpu"), "--cores", "2",
        "results/reasoning/trm-xla/eval.json")
    out = tmp_path / "results/reasoning/trm-xla"
    log = (tmp_path / "results/logs/reasoning/trm-xla.log").read_text()
    assert "XLA Metrics at step 20: CompileTime" in log
    report, _ = result(out)
    assert report["device"] == "xla" and report["xla"]["device_hw"] == "CPU" and report["steps"] == 75
    # bounded compilations: a graph or two per kind of step, not one per step
    assert 0 < report["xla"]["compilations"] <= 12, report["xla"]
    model, _ = load_model(out / "model.pt")
    test = Split.from_arrays(dataset.load_split(tmp_path / "results/reasoning/data/sudoku-4x4/test"))
    here = evaluate(model, test, SINGLE, torch.device("cpu"))
    for k in ("exact_acc", "token_acc"):
        assert here[f"test_{k}"] == pytest.approx(report["test"][k], abs=0.02), (here, report["test"])


class _Ranks:
    """A stand-in for a loop's all-reduce: this rank's value plus the other ranks' ones."""

    def __init__(self, others: list[int]):
        self.world_size, self.others, self.calls = 1 + len(others), others, 0

    def sum(self, value: float) -> float:
        self.calls += 1
        return value + sum(o ** self.calls for o in self.others)   # 1st call: steps, 2nd: squares


@pytest.mark.parametrize("mine, others, same", [(6, [6, 6], True), (6, [5, 7], False), (-1, [6], False)])
def test_ranks_resume_only_from_states_of_one_step(mine, others, same):
    from tinyscale.trainer import _same_everywhere
    assert _same_everywhere(_Ranks(others), mine) is same
