# Shared helpers: config validation, target lists, command prefixes.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import update_config

from tinyscale.config import ConfigError, check_samples, format_eps, load_schema, typed_override, validate
from tinyscale.report import GROUPS, REPORT_ORDER
from tinyscale.report.provenance import file_records, rebuild_command, sha256, shown_path

# --config values that are dicts or lists reach the config with their numbers as strings
update_config(config, {k: typed_override(v) for k, v in workflow.config_settings.config.items()
                       if isinstance(v, (dict, list))})
try:
    validate(config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
except ConfigError as err:
    raise WorkflowError(str(err)) from None

ROB = config["robustness"]
MODELS = list(config["training"]["models"])
SEEDS = config["training"]["seeds"]  # training seeds: a checkpoint per model and seed
METHODS = ROB["methods"]
EPS = [format_eps(e) for e in ROB["eps"]]
LOGS = "results/logs"


wildcard_constraints:
    nodes=r"\d+",
    procs=r"\d+",
    run=r"\d+",
    model="|".join(MODELS),
    train_seed="|".join(map(str, SEEDS)),
    # alpha-CROWN cells read their CROWN cell: an intermediate target even where
    # `methods` leaves CROWN out
    method="|".join(sorted({*METHODS, "crown"})),
    eps="|".join(e.replace(".", r"\.") for e in EPS),


ROOT = Path(workflow.basedir)
ENV = "../envs/conda.yaml"

# A rule's command must not change with the place of the checkout, the working
# directory or the path of the interpreter: Snakemake reruns a job whose params
# change. So commands name the scripts as "$TINYSCALE_ROOT/workflow/scripts/..."
# and the interpreter as `python`, and the environment every job inherits (locally,
# in a Slurm job, across srun) holds the checkout's place and, first on PATH, the
# interpreter running Snakemake (with --use-conda, the rule's conda env comes first).
os.environ["TINYSCALE_ROOT"] = str(ROOT)
_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join([_BIN, os.environ.get("PATH", "")])


# The executor of this run, for the report's commands: set when the run starts (onstart, below).
os.environ.setdefault("TINYSCALE_EXECUTOR", "")


envvars:
    "TINYSCALE_ROOT",
    "PATH",
    "TINYSCALE_EXECUTOR",


def in_checkout(relative):
    """A file of the checkout, named for a rule's shell command (see above)."""
    return f'"$TINYSCALE_ROOT/{relative}"'


def script_path(name):
    return in_checkout(f"workflow/scripts/{name}")


def script(name):
    """The command that runs workflow/scripts/<name> as one process."""
    return f"python {script_path(name)}"


def torchrun(name, nproc, nnodes=1, port=None):
    """torchrun for workflow/scripts/<name>: standalone on one node; on several,
    one agent per node rendezvousing over c10d at ``port`` (workflow/scripts/
    multinode.py: srun with the job's first host in a Slurm job, else agents on
    this machine)."""
    target = script_path(name)
    if nnodes == 1:
        return f"python -m tinyscale.dist --standalone --nproc-per-node {nproc} {target}"
    return f"{script('multinode.py')} --nodes {nnodes} --nproc-per-node {nproc} --port {port} {target}"


def xla_python():
    """The interpreter with torch_xla (its own venv: torch_xla pins another torch)."""
    value = config["launch"]["xla_python"]
    if not (ROOT / value).exists():
        raise WorkflowError(
            f"config key 'launch.xla_python': {ROOT / value} does not exist (`make tpu-setup` builds it)"
        )
    return value if Path(value).is_absolute() else in_checkout(value)


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
        return f"{xla_python()} {script_path('train.py')}"
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


# A sample count the dataset cannot give stops here (a dry run included) once the
# dataset exists; before that, select_samples checks it when it starts.
try:
    check_samples(dataset_path(), ROB["samples"])
except ConfigError as err:
    raise WorkflowError(str(err)) from None


CHECKPOINT = "results/robustness/checkpoints/{model}__seed{train_seed}"
CELL = "results/robustness/sweep/{model}__seed{train_seed}__{method}__eps{eps}.csv"


def checkpoints(suffix=".pt"):
    """Every (model, training seed)'s checkpoint file ending in ``suffix``."""
    return expand(f"{CHECKPOINT}{suffix}", model=MODELS, train_seed=SEEDS)


def sweep_cells():
    return expand(CELL, model=MODELS, train_seed=SEEDS, method=METHODS, eps=EPS)


def recipe(wildcards):
    return as_json(config["training"]["models"][wildcards.model])


def crown_cell(wildcards):
    """alpha-CROWN reuses the CROWN cell of its model and eps (certificates CROWN already has)."""
    if wildcards.method == "alpha-crown":
        w = wildcards
        return CELL.format(model=w.model, train_seed=w.train_seed, method="crown", eps=w.eps)
    return []


def crown_flag(wildcards, input):
    return f"--crown-cell {input.crown}" if input.crown else ""


CAPTIONS = ROOT / "workflow" / "report"


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
    """The figures' captions in the PDF's order, named through $TINYSCALE_ROOT (they belong
    to the workflow, not to the results: see the note on commands at the top)."""
    return " ".join(in_checkout(f"workflow/report/{name}.rst") for name in REPORT_ORDER)


def captions_sha256():
    """A param that changes with the captions' text, so that an edited caption rebuilds the PDF."""
    return [sha256((CAPTIONS / f"{name}.rst").read_bytes()) for name in REPORT_ORDER]


def config_files():
    """The run's config files and their sha256, for the provenance: a param, not inputs,
    so that the place of the checkout is not tracked (a changed file still rebuilds it)."""
    return as_json(file_records(workflow.configfiles, ROOT))


def report_command():
    """The command that rebuilds the report with this configuration (its provenance
    records it; the provenance script adds the profile the run used)."""
    return shlex.join(
        rebuild_command("reports", map(shown_path, workflow.config_settings.configfiles),
                        workflow.config_settings.config)
    )


onstart:
    # The report names the profile its run used (workflow/scripts/provenance.py reads
    # this): an environment variable of the run, not a param, so that building the
    # same results under another executor does not rebuild the report.
    os.environ["TINYSCALE_EXECUTOR"] = workflow.executor_plugin.cli_prefix
