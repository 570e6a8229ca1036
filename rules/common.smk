# Shared helpers: config validation, target lists, command prefixes.
import json
import sys
from pathlib import Path

from tinyscale.config import ConfigError, format_eps, load_schema, validate

try:
    validate(config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
except ConfigError as err:
    raise WorkflowError(str(err)) from None

ROB = config["robustness"]
MODELS = list(config["training"]["models"])
METHODS = ROB["methods"]
EPS = [format_eps(e) for e in ROB["eps"]]
LOGS = "results/logs"


wildcard_constraints:
    model="|".join(MODELS),
    method="|".join(METHODS),
    eps="|".join(e.replace(".", r"\.") for e in EPS),


SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
ENV = "../envs/conda.yaml"


def script(name):
    """The command that runs workflow/scripts/<name>: the interpreter running
    Snakemake (the project's venv) and the script's path from the Snakefile, so
    that any working directory (-d) works. Rules take it through params."""
    return f"{sys.executable} {SCRIPTS / name}"


def as_json(value):
    return json.dumps(value, sort_keys=True)


def dataset_path():
    return f"results/data/{config['data']['source']}.npz"


def sweep_cells():
    return expand(
        "results/robustness/sweep/{model}__{method}__eps{eps}.csv",
        model=MODELS,
        method=METHODS,
        eps=EPS,
    )


def recipe(wildcards):
    return as_json(config["training"]["models"][wildcards.model])


def crown_cell(wildcards):
    """alpha-CROWN reuses the CROWN cell of its model and eps (certificates CROWN already has)."""
    if wildcards.method == "alpha-crown":
        return f"results/robustness/sweep/{wildcards.model}__crown__eps{wildcards.eps}.csv"
    return []


def crown_flag(wildcards, input):
    return f"--crown-cell {input.crown}" if input.crown else ""
