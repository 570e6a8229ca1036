# Shared helpers: config validation, target lists, command prefixes.
import json
import shlex
import sys
from pathlib import Path

from tinyscale.config import ConfigError, format_eps, load_schema, validate
from tinyscale.report import GROUPS, REPORT_ORDER
from tinyscale.report.provenance import shown_path

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


def torchrun(name, nproc, nnodes=1, port=None):
    """torchrun for workflow/scripts/<name>: standalone on one node; on several,
    one agent per node rendezvousing over c10d at ``port`` (workflow/scripts/
    multinode.py: srun with the job's first host in a Slurm job, else agents on
    this machine)."""
    target = SCRIPTS / name
    if nnodes == 1:
        return f"{sys.executable} -m torch.distributed.run --standalone --nproc-per-node {nproc} {target}"
    return (
        f"{sys.executable} {SCRIPTS / 'multinode.py'} --nodes {nnodes} "
        f"--nproc-per-node {nproc} --port {port} {target}"
    )


def xla_python():
    """The interpreter with torch_xla (its own venv: torch_xla pins another torch)."""
    path = Path(workflow.basedir) / config["launch"]["xla_python"]
    if not path.exists():
        raise WorkflowError(
            f"config key 'launch.xla_python': {path} does not exist (`make tpu-setup` builds it)"
        )
    return path


def launch(name):
    """The command that runs a distributable script under the configured
    launcher (one process, or torchrun on one or several nodes). Rules take it
    through params."""
    L = config["launch"]
    if L["launcher"] == "python":
        return script(name)
    return torchrun(name, L["nproc_per_node"], L["nnodes"], port=L["rdzv_port"])


def launch_training():
    """Training runs on the XLA device under torch_xla.launch (from the torch_xla
    venv) when device is xla; otherwise like every distributable script."""
    if config["device"] == "xla":
        return f"{xla_python()} {SCRIPTS / 'train.py'}"
    return launch("train.py")


def host_device():
    """Device of the attack and verification rules: XLA trains only; the rest
    runs on the host CPU."""
    return "cpu" if config["device"] == "xla" else config["device"]


def gpus(procs_per_node):
    """GPUs a job asks its scheduler for: one per process on a node, on CUDA."""
    return procs_per_node if config["device"] == "cuda" else 0


def node_resources(nnodes):
    """Resources of a job spanning ``nnodes`` nodes (a count, or a function of
    the wildcards), for the Slurm executor: one task per node, started by the
    rule's own srun (``mpi``), so the jobstep does not wrap it in ``srun -n1``.
    Nothing for one node."""
    if nnodes == 1:
        return {}
    return {"nodes": nnodes, "tasks": nnodes, "tasks_per_gpu": 0, "mpi": "srun"}


def scaling_runs():
    S = config["scaling"]
    return [
        f"results/scaling/{S['study']}/{n}n{p}p_run{r}.csv"
        for n, p in S["grid"]
        for r in range(1, S["repeats"] + 1)
    ]


def scaling_launch(wildcards):
    """torchrun for one scaling run; a rendezvous port per run, so that runs
    cannot collide."""
    name = f"results/scaling/{wildcards.study}/{wildcards.nodes}n{wildcards.procs}p_run{wildcards.run}.csv"
    runs = scaling_runs()
    port = config["scaling"]["rdzv_port"] + (runs.index(name) if name in runs else len(runs))
    return torchrun("scaling_run.py", int(wildcards.procs), int(wildcards.nodes), port=port)


def scaling_threads(wildcards):
    """A scaling run holds every core Snakemake has (at least one per process),
    so that no other job runs beside it and skews its timing. (Under Slurm a
    job gets whole cores of its own; threads then sets cpus_per_task.)"""
    if workflow.local_exec:
        return max(workflow.cores, int(wildcards.nodes) * int(wildcards.procs))
    return int(wildcards.procs)


def scaling_nodes(wildcards):
    return int(wildcards.nodes)


def scaling_gpus(wildcards):
    return gpus(int(wildcards.procs))


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


CAPTIONS = Path(workflow.basedir) / "workflow" / "report"


def figure_outputs(group, category):
    """A figure rule's named outputs: each figure's PNG (in the HTML report, with
    workflow/report/<figure>.rst as its caption) and SVG."""
    out = {}
    for name in GROUPS[group]:
        out[name] = report(f"results/figures/{name}.png", caption=str(CAPTIONS / f"{name}.rst"), category=category)
        out[f"{name}_svg"] = f"results/figures/{name}.svg"
    return out


def report_figures():
    """The figures in the PDF's order."""
    return [f"results/figures/{name}.png" for name in REPORT_ORDER]


def report_captions():
    return [CAPTIONS / f"{name}.rst" for name in REPORT_ORDER]


def report_command():
    """The command that rebuilds the report with this configuration (its provenance records it)."""
    parts = ["snakemake"]
    for path in workflow.config_settings.configfiles:
        parts += ["--configfile", shown_path(path)]
    overrides = workflow.config_settings.config
    if overrides:
        parts += ["--config", *(f"{key}={value}" for key, value in overrides.items())]
    return shlex.join(parts + ["reports"])
