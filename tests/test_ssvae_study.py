"""The SSVAE study's training script: a killed point resumes to the uninterrupted result, DDP
over two processes trains the same labelled set, and the embedded default's scientific effect."""
from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tinyscale.config import validate

from helpers import TINY
from test_distributed import run, standalone

SCRIPT = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "ssvae" / "train_point.py"
BLOCK = validate(copy.deepcopy(TINY))["ssvae"]


def point_args(out: Path, block: dict, seed: int = 0) -> list[str]:
    return [str(SCRIPT), "--block", json.dumps(block), "--n-labels", "50", "--corruption", "0.2", "--alpha", "50",
            "--seed", str(seed), "--out", str(out / "metrics.json"), "--state-dir", str(out / "resume"),
            "--threads", "1"]


def without_times(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "wall_seconds", "images_per_s", "resumed_from_step")}


def test_a_killed_point_resumes_to_the_uninterrupted_result(tmp_path):
    block = {**BLOCK, "training": {**BLOCK["training"], "epochs": 60, "eval_frequency": 1}}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run([sys.executable, *point_args(whole, block)])
    with open(tmp_path / "killed.log", "w") as fh:
        proc = subprocess.Popen([sys.executable, *point_args(killed, block)], stderr=fh)
    deadline = time.monotonic() + 120     # killed once a state is saved (every evaluation saves one)
    while not list((killed / "resume").glob("*.rank0.pt")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the point finished before it could be killed"
    assert not (killed / "metrics.json").exists()
    rerun = run([sys.executable, *point_args(killed, block)])
    assert "resume: continuing from step" in rerun.stderr
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (whole, killed))
    assert b["resumed_from_step"] > 0
    assert without_times(a) == without_times(b)
    assert not (killed / "resume").exists() or not list((killed / "resume").iterdir())


def test_ddp_over_two_processes_trains_the_same_labelled_set(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run([sys.executable, *point_args(one, BLOCK)])
    run([*standalone(2), *point_args(two, BLOCK)])
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["labelled"] == b["labelled"] and a["labelled"]["corrupted"] == 10
    assert a["curves"]["epoch"] == b["curves"]["epoch"]
    # the same global batches: the first evaluation's ELBO agrees to within the noise draws' difference
    assert abs(a["curves"]["test_elbo"][0] - b["curves"]["test_elbo"][0]) < 0.05 * abs(a["curves"]["test_elbo"][0])


def _saved_steps(folder: Path) -> int | None:
    """The step both ranks' saved states hold, when they hold the same one."""
    import torch

    steps = set()
    for path in folder.glob("*.rank*.pt"):
        try:
            steps.add(torch.load(path, weights_only=True)["step"])
        except Exception:
            return None                     # being replaced
    return steps.pop() if len(steps) == 1 and len(list(folder.glob("*.rank*.pt"))) == 2 else None


def _worker_of_rank(agent: subprocess.Popen, rank: int) -> int | None:
    """The pid of torchrun's worker process of ``rank`` (a child of the agent with RANK in its environment)."""
    import psutil

    for child in psutil.Process(agent.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "train_point.py" in " ".join(child.cmdline()):
                return child.pid
        except psutil.Error:
            continue
    return None


def test_a_killed_rank_fails_the_job_naming_it_and_the_rerun_resumes(tmp_path):
    """SIGKILL one of two DDP workers: torchrun stops the job and names the rank; the rerun resumes
    from the saved states and ends as an uninterrupted two-process run."""
    # a state every 10 epochs; rank 1 is killed just after both ranks saved the same step (a kill
    # between two ranks' saves leaves states of different steps, and the rerun starts over)
    block = {**BLOCK, "training": {**BLOCK["training"], "epochs": 80, "eval_frequency": 10}}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run([*standalone(2), *point_args(whole, block)])
    # as the rules start it: torchrun through tinyscale.dist, which prints torchrun's failure summary alone
    launcher = [sys.executable, "-m", "tinyscale.dist", "--standalone", "--nproc-per-node", "2"]
    agent = subprocess.Popen([*launcher, *point_args(killed, block)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while agent.poll() is None and time.monotonic() < deadline and _saved_steps(killed / "resume") is None:
        time.sleep(0.01)
    pid = _worker_of_rank(agent, 1)
    assert pid is not None, "no worker of rank 1 (the job finished first?)"
    os.kill(pid, signal.SIGKILL)
    out = agent.communicate(timeout=120)[0]
    assert agent.returncode != 0
    root = out.split("Root Cause")[-1]        # torchrun's summary: the rank that died first
    assert re.search(r"rank\s*: 1 \(local_rank: 1\)", root) and "Signal 9 (SIGKILL)" in root, out[-3000:]
    assert "[rank0]: error: lost another rank of this job" in out
    assert "Traceback" not in out, out[-3000:]
    assert not (killed / "metrics.json").exists()
    rerun = run([*standalone(2), *point_args(killed, block)])
    assert "resume: continuing from step" in rerun.stdout + rerun.stderr
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (whole, killed))
    assert without_times(a) == without_times(b)
