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
    assert cfg["studies"] == ["robustness", "reasoning"]
    assert cfg["reasoning"]["datasets"]["sudoku-4x4"]["augmentations"] == 20
    assert cfg["robustness"]["attack"]["restarts"] == 1


def test_shipped_configs_validate(tmp_path):
    validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    paper["robustness"]["data"]["mnist_dir"] = str(tmp_path)  # the real folders are the user's
    paper["reasoning"]["datasets"]["sudoku-extreme-1k-aug-1000"]["csv_dir"] = str(tmp_path)
    cfg = validate(paper)
    assert cfg["robustness"]["samples"] == 512
    assert cfg["reasoning"]["datasets"]["sudoku-extreme-1k-aug-1000"]["augmentations"] == 1000


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
    ({"robustness": {"training": {"models": {"m": {"lr": 1e-4, "lr_min": 1e-3}}}}}, "robustness.training.models.m.lr_min"),
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
]


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
