"""The reasoning block's checks beyond its schema (run at every Snakemake start:
imports nothing heavy)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

KEY = "reasoning"


def check(block: dict, config: dict) -> None:
    for name, spec in block["datasets"].items():
        key = f"{KEY}.datasets.{name}"
        if spec["source"] == "csv":
            if spec["size"] != 9:
                raise ConfigError(f"config key '{key}.size': the Sudoku-Extreme CSV holds 9x9 puzzles "
                                  f"(size {spec['size']} given)")
            if not spec["csv_dir"]:
                raise ConfigError(f"config key '{key}.csv_dir': required when source is 'csv' "
                                  "(the folder with train.csv and test.csv)")
            if not Path(spec["csv_dir"]).is_dir():
                raise ConfigError(f"config key '{key}.csv_dir': folder {spec['csv_dir']!r} does not exist")
        else:
            givens = spec["givens"] if isinstance(spec["givens"], list) else [spec["givens"]] * 2
            cells = spec["size"] ** 2
            if givens[0] > givens[1]:
                raise ConfigError(f"config key '{key}.givens': range {givens} runs backwards")
            if givens[1] >= cells:
                raise ConfigError(f"config key '{key}.givens': a {spec['size']}x{spec['size']} board has "
                                  f"{cells} cells; at most {cells - 1} givens leave something to solve")
    for name in block["experiments"]:
        exp = experiment(block, name)
        key = f"{KEY}.experiments.{name}"
        if exp["dataset"] not in block["datasets"]:
            raise ConfigError(f"config key '{key}.dataset': no dataset {exp['dataset']!r} under "
                              f"{KEY}.datasets (known: {', '.join(block['datasets']) or 'none'})")
        model, training = exp["model"], exp["training"]
        if model["mixer"] == "attention" and model["hidden"] % model["heads"]:
            raise ConfigError(f"config key '{key}.model.heads': hidden {model['hidden']} is not a multiple "
                              f"of {model['heads']} heads")
        processes = config["launch"]["nproc_per_node"] * config["launch"]["nnodes"]
        if config["device"] == "xla":
            processes = 1     # the XLA replicas split the batch as they see fit
        if training["batch_size"] % (training["grad_accum"] * processes):
            raise ConfigError(f"config key '{key}.training.batch_size': {training['batch_size']} does not "
                              f"split into grad_accum {training['grad_accum']} x {processes} processes")
        if training["precision"] == "fp16" and config["device"] not in ("cuda", "auto"):
            raise ConfigError(f"config key '{key}.training.precision': fp16 needs a CUDA device "
                              f"(device is {config['device']!r}); use bf16 or fp32")


def experiment(block: dict, name: str) -> dict:
    """An experiment's settings: the block's model and training with its overrides on top."""
    exp = block["experiments"][name]
    return {"dataset": exp["dataset"], "model": {**block["model"], **exp.get("model", {})},
            "training": {**block["training"], **exp.get("training", {})}}
