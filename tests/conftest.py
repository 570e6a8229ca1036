"""Shared fixtures: a small digits split, two quickly trained TRM-MLPs, and the tiny campaign
built once through Snakemake (the end-to-end and Slurm tests read it)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyscale.robustness.data import load_digits_split, select_samples
from tinyscale.robustness.training import train

torch.set_num_threads(2)

EVAL_ATTACK = {"eps": 0.1, "steps": 5, "step_size": 0.25}
# PyTorch's Linear init (the default config's): with the seed's trunc_normal_0.02 these
# 30-epoch recipes spread 0.68-0.90 in clean accuracy over seeds (issue 10)
MODEL = {"init": "default"}
RECIPE = {"epochs": 30, "batch_size": 32, "lr": 3e-3, "lr_schedule": "cosine", "lr_min": 1e-5,
          "warmup_epochs": 0, "weight_decay": 0.01, "adversarial": None, "select": "last"}
ADV_RECIPE = {**RECIPE, "select": "best_adversarial",
              "adversarial": {"eps": 0.1, "steps": 3, "step_size": 0.5, "random_start": True,
                              "clean_weight": 0.5}}


@pytest.fixture(scope="session")
def digits():
    return load_digits_split(0.2, 0)


@pytest.fixture(scope="session")
def models(digits):
    """name -> trained model (eval mode), standard and adversarial."""
    cpu = torch.device("cpu")
    return {"std": train(digits, MODEL, RECIPE, EVAL_ATTACK, 0, cpu).model.eval(),
            "adv": train(digits, MODEL, ADV_RECIPE, EVAL_ATTACK, 0, cpu).model.eval()}


@pytest.fixture(scope="session")
def samples(digits):
    """(x, y, ids): 24 test samples chosen by the pipeline's rule."""
    x, y = digits.tensors("test")
    ids = select_samples(len(y), 24, 0)
    return x[ids], y[ids], np.arange(len(ids))


@pytest.fixture(scope="session")
def complete_run(tmp_path_factory):
    """`snakemake all` on the tiny config (tests/helpers.py: TINY), every study and the report.
    Tests that change it (test_workflow.py) put it back as it was."""
    from helpers import TINY, smk

    workdir = tmp_path_factory.mktemp("run")
    smk(workdir, TINY, "all")
    return workdir
