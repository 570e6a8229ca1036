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
    """The command that runs workflow/scripts/<name> as one process: the
    interpreter running Snakemake (the project's venv) and the script's path
    from the Snakefile, so that any working directory (-d) works."""
    return f"{sys.executable} {SCRIPTS / name}"


def launch(name):
    """The command that runs a distributable script under the configured
    launcher: one process, torchrun on one node, or torchrun across nodes
    rendezvousing over c10d. Rules take it through params."""
    L = config["launch"]
    if L["launcher"] == "python":
        return script(name)
    torchrun = f"{sys.executable} -m torch.distributed.run"
    if L["nnodes"] == 1:
        return f"{torchrun} --standalone --nproc-per-node {L['nproc_per_node']} {SCRIPTS / name}"
    return (
        f"{torchrun} --nnodes {L['nnodes']} --nproc-per-node {L['nproc_per_node']} "
        f"--rdzv-backend c10d --rdzv-endpoint {L['rdzv_endpoint']} --rdzv-id {config['name']} "
        f"{SCRIPTS / name}"
    )


def threads_per_process():
    """The job's CPU threads shared among the processes it starts on a node."""
    return max(1, config["threads"] // config["launch"]["nproc_per_node"])


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
