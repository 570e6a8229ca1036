"""Training on an XLA device (``device: xla``), on the CPU's XLA device.

The training script runs under the torch_xla environment (.venv-tpu, from
``make tpu-setup``) with ``PJRT_DEVICE=CPU``; without that environment these
tests are skipped. Its outputs are then checked from this (main) environment:
the checkpoint loads here and its accuracy recomputed here is the reported one.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from tinyscale.robustness.checkpoint import load_checkpoint
from tinyscale.config import validate
from tinyscale.robustness.data import save
from tinyscale.robustness.training import accuracy

from helpers import TINY   # the tiny config of the end-to-end tests

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "workflow" / "scripts" / "robustness" / "train.py"
TPU_PY = ROOT / ".venv-tpu" / "bin" / "python"
needs_tpu_venv = pytest.mark.skipif(
    not TPU_PY.exists(), reason=f"{TPU_PY.relative_to(ROOT)} not found: `make tpu-setup` builds the "
                                "torch-xla environment that device 'xla' trains in")

CFG = validate(copy.deepcopy(TINY))   # the tiny config with the schema's defaults
# The tiny config's 3 epochs leave the model near chance (~20%), where an accuracy
# band says little: the same recipes trained long enough to learn (measured: about
# 1 s per epoch on the XLA device for the adversarial one, after ~15 s of start-up
# and compilation).
RECIPES = {
    "std": {**CFG["robustness"]["training"]["models"]["trm_std"], "epochs": 20, "lr": 0.01},
    "adv": {**CFG["robustness"]["training"]["models"]["trm_adv"], "epochs": 10},
}
# Bands, from measurement on this project's CI machine (seeds 0-3, both recipes):
# - Against CPU training by the same script in the same environment (torch 2.9: the
#   same initial weights, the same batches in the same order) the XLA run tracks it:
#   first-epoch losses agree to 1e-7 for the standard recipe, and clean accuracies
#   differed by 0.3-4.7 points (standard) and 0.6-2.5 points (adversarial, whose PGD
#   random starts come from the XLA device's generator); at seed 0, 0.8 points for
#   both. Float rounding differences grow over 20 epochs of this recursive model.
#   (Measured with the seed's trunc_normal_0.02 init, not re-measured with the default
#   init (issue 10): no torch_xla environment there. As a proxy for another float path,
#   main-environment CPU runs on 1 and 2 torch threads, seeds 0-4, init default, differed
#   by 0.3-2.2 points per seed (standard) and 0-0.3 points (adversarial).)
SAME_ENV_BAND = 0.06
# - Against the main environment (torch 2.13) the initial weights may differ (the same
#   seed, but torch's init draws can change across versions), so its run is another
#   sample of this small model's seed-to-seed spread. With the default init (issue 10)
#   the main environment's clean accuracy over seeds 0-4 (1 and 2 threads) is
#   0.947-0.972 for the standard recipe and 0.719-0.878 for the adversarial one (its
#   10 epochs and best-validation-PGD selection leave it wide); with the seed's
#   trunc_normal_0.02 init it was 0.53-0.93 and 0.197-0.392. So the XLA run is held to
#   the range of the main environment's runs over those five seeds, widened by 10 points
#   (measured, not recomputed at every run: eight trainings took ~3 minutes of the suite).
SEEDS_BAND = 0.10
MAIN_ENV_RANGE = {"std": (0.947, 0.972), "adv": (0.719, 0.878)}


def train_script(python: Path, device: str, name: str, recipe: dict, data: Path, out: Path,
                 seed: int = 0) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "PJRT_DEVICE": "CPU", "CPU_NUM_DEVICES": "1"}
    cmd = [str(python), str(SCRIPT), "--data", str(data),
           "--model-config", json.dumps(CFG["robustness"]["model"]), "--recipe", json.dumps(recipe),
           "--eval-attack", json.dumps(CFG["robustness"]["training"]["eval_attack"]),
           "--validation-fraction", str(CFG["robustness"]["training"]["validation_fraction"]),
           "--seed", str(seed), "--device", device, "--threads", "1",
           "--checkpoint", str(out / f"{name}.pt"), "--metrics", str(out / f"{name}.json"),
           "--history", str(out / f"{name}.csv")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-4000:]}"
    return proc, json.loads((out / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory, digits):
    path = tmp_path_factory.mktemp("xla") / "digits.npz"
    save(path, digits)    # the tiny config's data: digits, test_fraction 0.2, seed 0
    return path


@pytest.fixture(scope="module", params=sorted(RECIPES))
def xla_run(request, data):
    """(name, log, metrics, output folder) of one recipe trained on the XLA device."""
    name = request.param
    proc, metrics = train_script(TPU_PY, "xla", f"{name}_xla", RECIPES[name], data, data.parent)
    return name, proc.stderr, metrics, data.parent


@needs_tpu_venv
def test_xla_training_ran_on_the_xla_device(xla_run, digits):
    name, log, metrics, out = xla_run
    assert metrics["device"] == "xla" and metrics["world_size"] == 1
    xla = metrics["xla"]
    assert xla["device"] == "xla:0" and xla["device_hw"] == "CPU" and xla["torch_xla"].startswith("2.9")
    assert "XLA replica 0/1 on xla:0 (CPU)" in log
    # every training step ran as a graph on the device ...
    recipe = RECIPES[name]
    assert len(pd.read_csv(out / f"{name}_xla.csv")) == recipe["epochs"]
    n_train = len(digits.y_train)
    n_val = round(CFG["robustness"]["training"]["validation_fraction"] * n_train) if recipe["select"] == "best_adversarial" else 0
    assert xla["executions"] >= recipe["epochs"] * math.ceil((n_train - n_val) / recipe["batch_size"])
    # ... and the graphs were compiled once, not per step (a data-dependent shape,
    # e.g. boolean-mask indexing in PGD, would compile one per step)
    assert 0 < xla["compilations"] <= 10


@needs_tpu_venv
def test_xla_checkpoint_loads_here_and_has_the_reported_accuracy(xla_run, digits):
    name, _, metrics, out = xla_run
    model = load_checkpoint(out / f"{name}_xla.pt")     # weights_only, torch 2.13
    meta = torch.load(out / f"{name}_xla.pt", weights_only=True)["meta"]
    assert meta["device"] == "xla" and meta["clean_acc"] == metrics["clean_acc"]
    x, y = digits.tensors("test")
    assert accuracy(model, x, y) == metrics["clean_acc"]
    assert metrics["kept_epoch"] >= 1 and metrics["test_samples"] == len(y)


@needs_tpu_venv
def test_xla_accuracy_is_in_the_band_of_the_cpu_runs(xla_run, data):
    name, _, metrics, out = xla_run
    # the CPU path of the same script in the same environment: same start, same batches
    _, same_env = train_script(TPU_PY, "cpu", f"{name}_cpu", RECIPES[name], data, out)
    assert same_env["device"] == "cpu" and "xla" not in same_env
    assert abs(metrics["clean_acc"] - same_env["clean_acc"]) <= SAME_ENV_BAND, (metrics, same_env)
    if not RECIPES[name]["adversarial"]:   # no device random numbers: the same updates
        first = [pd.read_csv(out / f"{name}_{d}.csv")["loss"][0] for d in ("xla", "cpu")]
        assert first[0] == pytest.approx(first[1], rel=1e-5)
    # the main environment's CPU training's spread over seeds, widened
    lo, hi = MAIN_ENV_RANGE[name][0] - SEEDS_BAND, MAIN_ENV_RANGE[name][1] + SEEDS_BAND
    assert lo <= metrics["clean_acc"] <= hi, (metrics["clean_acc"], MAIN_ENV_RANGE[name])


@pytest.mark.parametrize("python", [pytest.param(Path(sys.executable), id="this-venv"),
                                    pytest.param(TPU_PY, marks=needs_tpu_venv, id="tpu-venv")])
def test_the_cpu_path_never_imports_torch_xla(python):
    code = ("import sys, runpy; import tinyscale, tinyscale.train, tinyscale.robustness.training, tinyscale.cli, tinyscale.dist; "
            f"runpy.run_path({str(SCRIPT)!r}, run_name='not_main'); "
            "assert 'torch_xla' not in sys.modules, 'torch_xla imported'")
    subprocess.run([str(python), "-c", code], check=True, timeout=120)


def test_device_xla_without_torch_xla_names_the_setup(tmp_path, data):
    if importlib.util.find_spec("torch_xla") is not None:
        pytest.skip("this environment has torch_xla")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "--model-config", "{}",
                           "--recipe", "{}", "--eval-attack", "{}", "--device", "xla",
                           "--checkpoint", str(tmp_path / "m.pt"), "--metrics", str(tmp_path / "m.json"),
                           "--history", str(tmp_path / "h.csv")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "make tpu-setup" in proc.stderr
    assert not (tmp_path / "m.pt").exists()


@needs_tpu_venv
def test_the_tpu_profile_trains_on_xla_and_verifies_on_the_host(tmp_path, monkeypatch):
    """`snakemake --profile profiles/tpu`: the checkpoint trains on the XLA device
    (the torch_xla venv), the attack and the cell run on the host CPU."""
    from helpers import smk
    monkeypatch.setenv("PJRT_DEVICE", "CPU")
    target = "results/robustness/sweep/trm_std__seed0__crown__eps0.05.csv"
    smk(tmp_path, TINY, "--profile", str(ROOT / "profiles" / "tpu"), "--cores", "2", target)
    metrics = json.loads((tmp_path / "results/robustness/checkpoints/trm_std__seed0.json").read_text())
    assert metrics["device"] == "xla"
    cell = pd.read_csv(tmp_path / target)
    assert len(cell) == 8 and set(cell["device"]) == {"cpu"}
