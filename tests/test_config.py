"""The config schema: defaults filled in, bad values stopped with the key named."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tinyscale.config import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_filled_in():
    cfg = validate({})
    assert cfg["robustness"]["methods"] == ["ibp", "crown", "alpha-crown"]
    assert cfg["robustness"]["training"]["models"]["trm_std"]["epochs"] == 60
    assert cfg["studies"] == ["robustness", "reasoning", "curvature", "ssvae"]
    assert cfg["reasoning"]["datasets"]["sudoku-4x4"]["augmentations"] == 20
    assert cfg["robustness"]["attack"]["restarts"] == 1


def test_shipped_configs_validate(tmp_path):
    validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    paper["robustness"]["data"]["mnist_dir"] = str(tmp_path)  # the real folders are the user's
    for spec in paper["reasoning"]["datasets"].values():
        spec["csv_dir"] = str(tmp_path)
    paper["curvature"]["data"]["path"] = str(tmp_path)
    paper["ssvae"]["data"]["path"] = str(tmp_path)
    cfg = validate(paper)
    from tinyscale.ssvae.settings import points
    assert len(points(cfg["ssvae"])) == (4 * 8 + 4 * 6 - 4) * 10     # the slices share (n, 0, 50)
    from tinyscale.curvature import settings as curvature
    assert len(curvature.saved_epochs(cfg["curvature"])) == 21 and curvature.total_epochs(cfg["curvature"]) == 4000
    assert cfg["robustness"]["samples"] == 512
    assert cfg["reasoning"]["datasets"]["sudoku-extreme-1k-aug-1000"]["augmentations"] == 1000
    # seed 001's experiments (the 18 its README lists) and seed 002's six suites
    seed_001 = [e for e in cfg["reasoning"]["experiments"] if e[:2] in ("e1", "e2", "e3", "e4")]
    assert len(seed_001) == 18
    assert {"baseline", "augmentation", "hierarchical", "deep_transformer", "act_alternatives",
            "puzzle_embeddings"} <= set(cfg["reasoning"]["suites"])
    from tinyscale.reasoning import settings
    ema_off = settings.experiment(cfg["reasoning"], "e2_1_ema_off")["training"]
    assert (ema_off["batch_size"], ema_off["lr"], ema_off["warmup_steps"], ema_off["ema"]) == (1024, 4e-4, 5000, None)


BAD = [
    ({"robustness": {"epz": [0.1]}}, "robustness.epz"),
    ({"robustness": {"eps": [0.1, -0.1]}}, "robustness.eps[1]"),
    ({"robustness": {"eps": [0.1, 0.1]}}, "robustness.eps"),
    ({"robustness": {"eps": [0.1, 0.10000001]}}, "robustness.eps"),
    ({"robustness": {"samples": 0}}, "robustness.samples"),
    ({"robustness": {"samples": "many"}}, "robustness.samples"),
    ({"robustness": {"methods": ["crown", "beta-crown"]}}, "robustness.methods[1]"),
    ({"seed": -1}, "seed"),
    ({"device": "tpu"}, "device"),
    ({"robustness": {"data": {"source": "mnist"}}}, "robustness.data.mnist_dir"),
    ({"robustness": {"data": {"source": "mnist", "mnist_dir": "/no/such/folder"}}}, "robustness.data.mnist_dir"),
    ({"robustness": {"training": {"models": {"m": {"lr": "fast"}}}}}, "robustness.training.models.m.lr"),
    ({"robustness": {"training": {"models": {"m": {"adversarial": {"eps": 2, "steps": 1, "step_size": 1}}}}}},
     "robustness.training.models.m.adversarial.eps"),
    ({"robustness": {"training": {"models": {"m": {"adversarial": {"eps": 0.1, "steps": 1}}}}}},
     "robustness.training.models.m.adversarial"),
    ({"robustness": {"training": {"models": {"bad__name": {}}}}}, "robustness.training.models"),
    ({"curvature": {"data": {"dataset": "cifar100"}}}, "curvature.data.path"),
    ({"curvature": {"data": {"dataset": "cifar100", "path": "/no/such/folder"}}}, "curvature.data.path"),
    ({"curvature": {"classes": {"tasks": 6}}}, "curvature.classes"),
    ({"curvature": {"training": {"checkpoint_every": 7}}}, "curvature.training.checkpoint_every"),
    ({"curvature": {"training": {"lr_milestones": [9, 30]}}}, "curvature.training.lr_milestones"),
    ({"curvature": {"model": {"widths": [8], "blocks": [1, 1]}}}, "curvature.model"),
    ({"curvature": {"analysis": {"epochs": [5]}}}, "curvature.analysis.epochs"),
    ({"curvature": {"analysis": {"form": "cubed"}}}, "curvature.analysis.form"),
    ({"curvature": {"checkpoints": "/no/such/folder"}}, "curvature.checkpoints"),
    ({"robustness": {"training": {"models": {"m": {"lr": 1e-4, "lr_min": 1e-3}}}}}, "robustness.training.models.m.lr_min"),
    ({"ssvae": {"data": {"dataset": "mnist"}}}, "ssvae.data.path"),
    ({"ssvae": {"data": {"dataset": "mnist", "path": "/no/such/folder"}}}, "ssvae.data.path"),
    ({"ssvae": {"grid": {"slices": {"s": {"n_labels": [2000], "corruption": [0], "alpha": [1]}}}}},
     "ssvae.grid.slices.s.n_labels"),
    ({"ssvae": {"grid": {"slices": {"s": {"n_labels": [], "corruption": [0], "alpha": [1]}}}}},
     "ssvae.grid.slices.s.n_labels"),
    ({"ssvae": {"grid": {"slices": {"s": {"n_labels": [20], "corruption": [1.5], "alpha": [1]}}}}},
     "ssvae.grid.slices.s.corruption"),
    ({"ssvae": {"grid": {"slices": {"s": {"n_labels": [20], "alpha": [1]}}}}}, "ssvae.grid.slices.s"),
    ({"ssvae": {"training": {"label_scheme": "per_batch"}}}, "ssvae.training.label_scheme"),
    ({"launch": {"launcher": "torchrun", "rdzv_port": 80}}, "launch.rdzv_port"),
    ({"device": "xla", "launch": {"launcher": "torchrun"}}, "launch.launcher"),
    ({"launch": {"nproc_per_node": 2}}, "launch.launcher"),
    ({"launch": {"launcher": "mpirun"}}, "launch.launcher"),
    ({"studies": ["robustness", "curvatur"]}, "studies"),
    ({"reasoning": {"datasets": {"s": {"size": 5}}}}, "reasoning.datasets.s.size"),
    ({"reasoning": {"datasets": {"s": {"givens": [30, 20]}}}}, "reasoning.datasets.s.givens"),
    ({"reasoning": {"datasets": {"s": {"size": 4, "givens": 16}}}}, "reasoning.datasets.s.givens"),
    ({"reasoning": {"datasets": {"s": {"source": "csv"}}}}, "reasoning.datasets.s.csv_dir"),
    ({"reasoning": {"datasets": {"s": {"source": "csv", "csv_dir": "/no/such/folder"}}}},
     "reasoning.datasets.s.csv_dir"),
    ({"reasoning": {"datasets": {"s": {"source": "csv", "size": 4, "csv_dir": "."}}}}, "reasoning.datasets.s.size"),
    ({"reasoning": {"datasets": {"s": {"augmentation": 3}}}}, "reasoning.datasets.s.augmentation"),
    # an experiment's overrides: the key and the experiment named, by the schema or after the merge
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "model": {"arch": "rnn"}}}}},
     "reasoning.experiments.e.model.arch"),
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "training": {"ema": 1.5}}}}},
     "reasoning.experiments.e.training.ema"),
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "modle": {}}}}}, "reasoning.experiments.e"),
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "model": {"mixer": "attention", "heads": 5}}}}},
     "reasoning.experiments.e.model.heads"),
    ({"reasoning": {"model": {"hidden": 66}, "experiments": {"e": {"dataset": "sudoku-6x6",
                                                                   "model": {"mixer": "attention"}}}}},
     "reasoning.experiments.e.model.heads"),       # wrong only once merged with the base
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "model": {"arch": "transformer"}}}}},
     "reasoning.experiments.e.model.halt_max_steps"),
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "training": {"batch_size": 3},
                                          "launch": {"nproc_per_node": 2}}}}},
     "reasoning.experiments.e.training.batch_size"),
    ({"reasoning": {"experiments": {"e": {"dataset": "sudoku-6x6", "reference": {"exact_acc": 87.4,
                                                                                 "source": "paper"}}}}},
     "reasoning.experiments.e.reference.exact_acc"),
    ({"reasoning": {"experiments": {}}}, "reasoning.experiments"),
    ({"reasoning": {"suites": {"s": ["trm", "trm-ema"]}}}, "reasoning.suites.s"),
    ({"reasoning": {"suites": {"s": []}}}, "reasoning.suites.s"),
    ({"reasoning": {"baseline": "trm2"}}, "reasoning.baseline"),
    ({"reasoning": {"scaling": {"experiment": "hrm2"}}}, "reasoning.scaling.experiment"),
]


def test_an_experiment_is_the_base_with_its_overrides_deep_merged():
    from tinyscale.reasoning import settings
    block = validate({"reasoning": {
        "model": {"hidden": 32}, "training": {"lr": 0.01},
        "experiments": {"a": {"dataset": "sudoku-6x6"},
                        "b": {"dataset": "sudoku-4x4", "model": {"H_cycles": 1}, "training": {"ema": None},
                              "launch": {"nproc_per_node": 2}}},
        "suites": {"s": ["b", "a"]}}})["reasoning"]
    a, b = settings.experiment(block, "a"), settings.experiment(block, "b")
    assert a["model"] == block["model"] and a["training"] == block["training"]
    assert b["model"] == {**block["model"], "H_cycles": 1} and b["model"]["hidden"] == 32
    assert b["training"] == {**block["training"], "ema": None} and b["training"]["lr"] == 0.01
    assert b["launch"] == {"nproc_per_node": 2} and a["launch"] == {}
    assert block["experiments"]["b"]["model"] == {"H_cycles": 1}          # the config is left as it was
    assert settings.baseline(block) == "a" and settings.suites_of(block, "a") == ["s"]
    assert settings.deep_merge({"x": {"y": 1, "z": 2}, "w": 0}, {"x": {"z": 3}}) == {"x": {"y": 1, "z": 3}, "w": 0}


def test_the_tn_grid_is_the_baselines_neighbours_in_t_and_n():
    from tinyscale.reasoning import settings
    exps = {"base": {"dataset": "sudoku-6x6"}, "t1": {"dataset": "sudoku-6x6", "model": {"H_cycles": 1}},
            "n4": {"dataset": "sudoku-6x6", "model": {"L_cycles": 4}},
            "att": {"dataset": "sudoku-6x6", "model": {"mixer": "attention", "H_cycles": 1}}}
    block = validate({"reasoning": {"experiments": exps}})["reasoning"]
    assert settings.tn_grid(block) == ["base", "t1", "n4"]
    block = validate({"reasoning": {"experiments": {k: exps[k] for k in ("base", "t1", "att")}}})["reasoning"]
    assert settings.tn_grid(block) == []       # two cells are no grid


@pytest.mark.parametrize("bad,key", BAD, ids=[k for _, k in BAD])
def test_bad_values_name_their_key(bad, key):
    with pytest.raises(ConfigError) as err:
        validate(copy.deepcopy(bad))
    assert f"'{key}" in str(err.value)


def test_what_the_rules_import_pulls_in_no_heavy_library():
    """Snakemake parses the Snakefile at every start (and in every Slurm job): the modules
    its rules files import, and validating the default config (which runs each study's
    settings checks), must not import torch, pandas, matplotlib or a study's library."""
    import re
    import subprocess
    import sys

    imports = sorted({line.strip() for smk in (ROOT / "rules").glob("*.smk")
                      for line in smk.read_text().splitlines() if re.match(r"from tinyscale\S* import", line)})
    assert imports, "the rules import nothing from tinyscale?"
    code = "\n".join([*imports, "import yaml",
                      "from tinyscale.config import validate",
                      f"validate(yaml.safe_load(open({str(ROOT / 'config' / 'config.yaml')!r})))",
                      "import sys",
                      "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
                      "{'torch', 'pandas', 'matplotlib', 'seaborn', 'scipy', 'sklearn', 'auto_LiRPA'} "
                      "or m.startswith(('tinyscale.robustness.', 'tinyscale.reasoning.')) "
                      "and not m.endswith('.settings'))",
                      "assert not heavy, heavy"])
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
