"""experiments.csv: one row per experiment, from its eval.json and what the config says of it
(suites, baseline, a published reference value). The report section and the figures read it."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..errors import ResultsError

COLUMNS = ["experiment", "suites", "leads", "baseline", "dataset", "board", "train_puzzles", "train_examples",
           "arch", "mixer", "act", "T", "n", "Nsup", "L_layers", "H_layers", "hidden", "puzzle_emb_len",
           "batch", "lr", "ema", "epochs", "warmup_steps", "weight_decay", "precision",
           "parameters", "steps", "train_seconds", "device", "world_size",
           "exact_acc", "token_acc", "q_halt_acc", "blank_acc", "mean_steps",
           "copy_exact_acc", "copy_token_acc", "train_flops", "flops_per_exact_point",
           "ref_exact_acc", "ref_source"]


def experiment_row(e: dict, suites: list[str], leads: list[str], baseline: bool, reference: dict | None) -> dict:
    """An eval.json's row: the suites that list it and those it leads (the suite's first, what
    the others are compared with), the resolved settings, the run, the EMA weights' test metrics."""
    m, t, test = e["model"], e["training"], e["test"]
    # one training step is one supervision step of every sample of the global batch
    flops = e["steps"] * e["global_batch"] * e["flops_per_example"]["train"]
    return {"experiment": e["experiment"], "suites": " ".join(suites), "leads": " ".join(leads), "baseline": baseline,
            "dataset": Path(e["dataset"]).name, "board": e["data"]["board"],
            "train_puzzles": e["data"]["train_puzzles"], "train_examples": e["data"]["train_examples"],
            "arch": m["arch"], "mixer": m["mixer"], "act": m["act"], "T": m["H_cycles"], "n": m["L_cycles"],
            "Nsup": m["halt_max_steps"], "L_layers": m["L_layers"], "H_layers": m["H_layers"] if m["arch"] == "hrm" else None,
            "hidden": m["hidden"], "puzzle_emb_len": m["puzzle_emb_len"],
            "batch": e["global_batch"], "lr": e["lr"], "ema": t["ema"], "epochs": t["epochs"],
            "warmup_steps": t["warmup_steps"], "weight_decay": t["weight_decay"], "precision": e["precision"],
            "parameters": e["parameters"], "steps": e["steps"], "train_seconds": round(e["train_seconds"], 1),
            "device": e["device"], "world_size": e["world_size"],
            "exact_acc": test["exact_acc"], "token_acc": test["token_acc"], "q_halt_acc": test["q_halt_acc"],
            "blank_acc": test["blank_acc"], "mean_steps": test["steps"],
            "copy_exact_acc": e["copy_baseline"]["exact_acc"], "copy_token_acc": e["copy_baseline"]["token_acc"],
            "train_flops": float(flops),
            "flops_per_exact_point": float(flops / (100 * test["exact_acc"])) if test["exact_acc"] > 0 else math.nan,
            "ref_exact_acc": reference["exact_acc"] if reference else math.nan,
            "ref_source": reference["source"] if reference else ""}


def experiments_table(eval_files: list[str | Path], table: list[dict]) -> pd.DataFrame:
    """The rows of ``eval_files`` in ``table``'s order (each entry: experiment, suites, leads,
    baseline, reference)."""
    evals = {}
    for path in map(Path, eval_files):
        try:
            e = json.loads(path.read_text())
            evals[e["experiment"]] = e
        except (OSError, ValueError, KeyError) as err:
            raise ResultsError(f"{path}: not an experiment's eval.json ({err})") from err
    missing = [info["experiment"] for info in table if info["experiment"] not in evals]
    if missing:
        raise ResultsError(f"no eval.json for experiment(s) {', '.join(missing)} among {len(evals)} files")
    rows = []
    for info in table:
        name = info["experiment"]
        try:
            rows.append(experiment_row(evals[name], info["suites"], info["leads"], info["baseline"], info["reference"]))
        except KeyError as err:
            raise ResultsError(f"eval.json of experiment {name!r} lacks {err} (written by an older tinyscale? "
                            "rebuild it)") from err
    return pd.DataFrame(rows, columns=COLUMNS)
