"""The reasoning block's checks beyond its schema (run at every Snakemake start:
imports nothing heavy)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

KEY = "reasoning"
# the default grid's suites (the schema's default experiments), each compared against its first
DEFAULT_SUITES = {"recursion": ["trm", "trm-T1n1"], "ema": ["trm", "trm-ema-off"],
                  "mixer": ["trm", "trm-attention"], "architecture": ["trm", "hrm", "transformer"]}


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
    experiments = list(block["experiments"])
    if not experiments:
        raise ConfigError(f"config key '{KEY}.experiments': names no experiment")
    for name in experiments:
        _check_experiment(block, config, name)
    if block["suites"] is None:     # not configured: the default's, where they apply (they name no typo)
        block["suites"] = {suite: names for suite, names in DEFAULT_SUITES.items()
                           if all(name in block["experiments"] for name in names)}
    for suite, names in block["suites"].items():
        for name in names:
            _known(block, name, f"{KEY}.suites.{suite}")
    _known(block, baseline(block), f"{KEY}.baseline")
    _known(block, scaling_experiment(block), f"{KEY}.scaling.experiment")


def _known(block: dict, name: str, key: str) -> None:
    if name not in block["experiments"]:
        raise ConfigError(f"config key '{key}': no experiment {name!r} under {KEY}.experiments "
                          f"(known: {', '.join(block['experiments'])})")


def _check_experiment(block: dict, config: dict, name: str) -> None:
    """What the schema cannot say of one experiment's merged settings (its key named)."""
    exp = experiment(block, name)
    key = f"{KEY}.experiments.{name}"
    if exp["dataset"] not in block["datasets"]:
        raise ConfigError(f"config key '{key}.dataset': no dataset {exp['dataset']!r} under "
                          f"{KEY}.datasets (known: {', '.join(block['datasets']) or 'none'})")
    model, training = exp["model"], exp["training"]
    if model["mixer"] == "attention" and model["hidden"] % model["heads"]:
        raise ConfigError(f"config key '{key}.model.heads': hidden {model['hidden']} is not a multiple "
                          f"of {model['heads']} heads")
    if model["arch"] == "transformer" and model["halt_max_steps"] != 1:
        raise ConfigError(f"config key '{key}.model.halt_max_steps': the transformer carries no state from "
                          f"one supervision step to the next, so it runs one (set 1, not {model['halt_max_steps']})")
    nodes, procs = processes(config, exp)
    world = 1 if config["device"] == "xla" else nodes * procs   # XLA replicas split the batch themselves
    if world > 1 and config["device"] == "xla":
        raise ConfigError(f"config key '{key}.launch': device xla starts a process per XLA device itself")
    if training["batch_size"] % (training["grad_accum"] * world):
        raise ConfigError(f"config key '{key}.training.batch_size': {training['batch_size']} does not "
                          f"split into grad_accum {training['grad_accum']} x {world} processes")
    if training["precision"] == "fp16" and config["device"] not in ("cuda", "auto"):
        raise ConfigError(f"config key '{key}.training.precision': fp16 needs a CUDA device "
                          f"(device is {config['device']!r}); use bf16 or fp32")


def deep_merge(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` on top, nested dicts merged key by key (neither is changed)."""
    out = dict(base)
    for k, v in overrides.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def experiment(block: dict, name: str) -> dict:
    """An experiment's settings: the block's model and training with its overrides deep-merged on top."""
    exp = block["experiments"][name]
    return {"dataset": exp["dataset"], "model": deep_merge(block["model"], exp.get("model", {})),
            "training": deep_merge(block["training"], exp.get("training", {})),
            "launch": exp.get("launch", {}), "reference": exp.get("reference")}


def processes(config: dict, exp: dict) -> tuple[int, int]:
    """(nodes, processes per node) of an experiment: its launch block over the top-level one."""
    launch = {**config["launch"], **exp["launch"]}
    return launch["nnodes"], launch["nproc_per_node"]


def baseline(block: dict) -> str:
    return block["baseline"] or next(iter(block["experiments"]))


def scaling_experiment(block: dict) -> str:
    return block["scaling"]["experiment"] or baseline(block)


def suites_of(block: dict, name: str) -> list[str]:
    return [suite for suite, names in block["suites"].items() if name in names]


def tn_grid(block: dict) -> list[str]:
    """The TRM experiments that differ from the baseline in T and n only (it among them), when
    they fill at least three (T, n) cells: the report's T x n heatmap; else []."""
    base = experiment(block, baseline(block))
    if base["model"]["arch"] != "trm":
        return []

    def rest(exp):
        model = {k: v for k, v in exp["model"].items() if k not in ("H_cycles", "L_cycles")}
        return exp["dataset"], model, exp["training"]

    names = [n for n in block["experiments"] if rest(experiment(block, n)) == rest(base)]
    cells = {(experiment(block, n)["model"]["H_cycles"], experiment(block, n)["model"]["L_cycles"]) for n in names}
    if len(cells) < 3:
        return []
    return names
