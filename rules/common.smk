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
    nodes=r"\d+",
    procs=r"\d+",
    run=r"\d+",
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


def scaling_runs():
    S = config["scaling"]
    return [
        f"results/scaling/{S['study']}/{n}n{p}p_run{r}.csv"
        for n, p in S["grid"]
        for r in range(1, S["repeats"] + 1)
    ]


def scaling_launch(wildcards):
    """torchrun for one scaling run: one node standalone, or several "nodes" on
    this machine rendezvousing over c10d (a port per run, so runs can overlap)."""
    nodes, procs, run = int(wildcards.nodes), int(wildcards.procs), int(wildcards.run)
    runs = scaling_runs()
    name = f"results/scaling/{wildcards.study}/{nodes}n{procs}p_run{run}.csv"
    port = config["scaling"]["rdzv_port"] + (runs.index(name) if name in runs else 0)
    target = SCRIPTS / "scaling_run.py"
    if nodes == 1:
        return f"{sys.executable} -m torch.distributed.run --standalone --nproc-per-node {procs} {target}"
    return (
        f"{sys.executable} {SCRIPTS / 'local_nodes.py'} --nodes {nodes} "
        f"--nproc-per-node {procs} --port {port} {target}"
    )


def scaling_threads(wildcards):
    """A scaling run holds every core Snakemake has (at least one per process),
    so that no other job runs beside it and skews its timing."""
    return max(workflow.cores, int(wildcards.nodes) * int(wildcards.procs))


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
