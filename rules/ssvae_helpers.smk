# The SSVAE study's constants and helper functions (rules/ssvae.smk holds its rules).
import pandas as pd
from snakemake.utils import Paramspace

from tinyscale.ssvae import settings as ssvae_settings

SSVAE = config["ssvae"]
SS_OUT = "results/ssvae"
SS_LOGS = f"{LOGS}/ssvae"
SS_SPACE = Paramspace(pd.DataFrame(ssvae_settings.points(SSVAE), columns=list(ssvae_settings.AXES)))
SS_RUN = f"{SS_OUT}/runs/{SS_SPACE.wildcard_pattern}"
SS_STACKED = SSVAE["training"]["stack_seeds"]


wildcard_constraints:
    n_labels=r"\d+",
    corruption=r"\d+(\.\d+)?",
    alpha=r"\d+(\.\d+)?",
    seed=r"\d+",


def ssvae_runs():
    return [f"{SS_OUT}/runs/{point}/metrics.json" for point in SS_SPACE.instance_patterns]


def ssvae_point_args(wildcards):
    """A target's point as the script's options: any values can be named (a point outside the
    config's slices too); the script checks them before anything is written."""
    w = wildcards
    return f"--n-labels {w.n_labels} --corruption {w.corruption} --alpha {w.alpha} --seed {w.seed}"


def ssvae_seeds_point_args(wildcards):
    w = wildcards
    return f"--n-labels {w.n_labels} --corruption {w.corruption} --alpha {w.alpha}"


def ssvae_block():
    """What a point's result depends on besides its coordinates (not the grid, nor how seeds are
    batched): adding a point or a seed leaves the others built."""
    return as_json({k: SSVAE[k] for k in ("data", "model", "training", "metrics")}
                   | {"training": {k: v for k, v in SSVAE["training"].items() if k != "stack_seeds"}})


def ssvae_data_inputs():
    return [SSVAE["data"]["path"]] if SSVAE["data"]["dataset"] == "mnist" and SSVAE["data"]["path"] else []


SS_SCALE = SSVAE["scaling"]
SS_SCALE_RUN = f"{SS_OUT}/scaling/{{nodes}}n{{procs}}p_run{{run}}.csv"


def ssvae_scaling_runs():
    return [SS_SCALE_RUN.format(nodes=n, procs=p, run=r)
            for n, p in SS_SCALE["grid"] for r in range(1, SS_SCALE["repeats"] + 1)]


def ssvae_scaling_launch(wildcards):
    w = wildcards
    runs = ssvae_scaling_runs()
    name = SS_SCALE_RUN.format(nodes=w.nodes, procs=w.procs, run=w.run)
    port = SS_SCALE["rdzv_port"] + (runs.index(name) if name in runs else len(runs))
    return torchrun("ssvae/scaling_run.py", int(w.procs), int(w.nodes), port=port)


SS_FIGURES = f"{SS_OUT}/figures"
SS_FIGURE_NAMES = ["accuracy_vs_labels", "accuracy_vs_corruption", "disentanglement"]
