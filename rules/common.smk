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


def torchrun(name, nproc, nnodes=1, endpoint=None, local_port=None):
    """torchrun for workflow/scripts/<name>: one node standalone; several nodes
    rendezvousing over c10d at ``endpoint`` (one agent per node, e.g. under
    srun); or, with ``local_port``, several "nodes" on this machine."""
    target = SCRIPTS / name
    if nnodes == 1:
        return f"{sys.executable} -m torch.distributed.run --standalone --nproc-per-node {nproc} {target}"
    if local_port:
        return (
            f"{sys.executable} {SCRIPTS / 'local_nodes.py'} --nodes {nnodes} "
            f"--nproc-per-node {nproc} --port {local_port} {target}"
        )
    return (
        f"{sys.executable} -m torch.distributed.run --nnodes {nnodes} --nproc-per-node {nproc} "
        f"--rdzv-backend c10d --rdzv-endpoint {endpoint} --rdzv-id {config['name']} {target}"
    )


def launch(name):
    """The command that runs a distributable script under the configured
    launcher (one process, or torchrun on one or several nodes). Rules take it
    through params."""
    L = config["launch"]
    if L["launcher"] == "python":
        return script(name)
    return torchrun(name, L["nproc_per_node"], L["nnodes"], endpoint=L["rdzv_endpoint"])


def scaling_runs():
    S = config["scaling"]
    return [
        f"results/scaling/{S['study']}/{n}n{p}p_run{r}.csv"
        for n, p in S["grid"]
        for r in range(1, S["repeats"] + 1)
    ]


def scaling_launch(wildcards):
    """torchrun for one scaling run; multi-node runs rendezvous on this machine,
    a port per run so that runs cannot collide."""
    name = f"results/scaling/{wildcards.study}/{wildcards.nodes}n{wildcards.procs}p_run{wildcards.run}.csv"
    runs = scaling_runs()
    port = config["scaling"]["rdzv_port"] + (runs.index(name) if name in runs else len(runs))
    return torchrun("scaling_run.py", int(wildcards.procs), int(wildcards.nodes), local_port=port)


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
