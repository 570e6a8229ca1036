# The core's helpers, for every study: config validation, command prefixes, launchers,
# and the registries a study's rules file fills (what `all` builds, what its report
# section reads). Nothing here, nor in any rules file, imports torch or a study's library
# (only a study's settings module, which imports nothing heavy): Snakemake parses this at
# every start, and in every Slurm job (tests/test_config.py checks it). pandas (0.3 s) is
# the one exception: snakemake.utils.Paramspace, which rules/ssvae.smk's grid is, holds a
# DataFrame.
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import update_config

from tinyscale.config import ConfigError, format_eps, load_schema, typed_override, validate
from tinyscale.report.provenance import file_records, rebuild_command, sha256, shown_path

# --config values that are dicts or lists reach the config with their numbers as strings
update_config(config, {k: typed_override(v) for k, v in workflow.config_settings.config.items()
                       if isinstance(v, (dict, list))})
try:
    validate(config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
except ConfigError as err:
    raise WorkflowError(str(err)) from None

LOGS = "results/logs"

# What each study's rules file registers, by study name:
STUDY_TARGETS = {}     # the files `snakemake all` builds when the study is in config["studies"]
REPORT_SECTIONS = {}   # the result files its report section reads, by name ({name: [paths]})
RESULT_DEVICES = {}    # result files whose recorded devices the provenance lists, by label


def selected(registry):
    """A registry's entries for the studies config["studies"] lists, in that order."""
    return {study: registry[study] for study in config["studies"] if study in registry}


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


def launch_training(name):
    """Training runs on the XLA device under torch_xla.launch (from the torch_xla
    venv) when device is xla; otherwise like every distributable script."""
    if config["device"] == "xla":
        return f"{xla_python()} {script_path(name)}"
    return launch(name)


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


# Scaling runs (every study's): wildcards nodes and procs.

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


def captions_sha256(paths):
    """A param that changes with the captions' text, so that an edited caption rebuilds the report."""
    return [sha256((ROOT / "workflow" / "report" / p).read_bytes()) for p in paths]


def figure_outputs(folder, names, captions, category):
    """A figure rule's named outputs: each figure's PNG (in the HTML report, captioned by
    workflow/report/<captions>/<figure>.rst) and SVG, under ``folder``."""
    out = {}
    for name in names:
        out[name] = report(f"{folder}/{name}.png", caption=str(ROOT / "workflow" / "report" / captions / f"{name}.rst"),
                           category=category)
        out[f"{name}_svg"] = f"{folder}/{name}.svg"
    return out


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


# ---------------------------------------------------------------- the campaign report (rules/report.smk)

def section_files():
    """Every result file the selected studies' sections read (captions are the workflow's, not results)."""
    return [path for inputs in selected(REPORT_SECTIONS).values()
            for name, paths in inputs.items() if name != "captions" for path in paths]


def sections_param():
    """The sections' files by study and name, for the report script (JSON). Captions are
    named relative to workflow/report/ and found there through $TINYSCALE_ROOT. In the
    order of config["studies"] (the report's order), so not through as_json's sorting."""
    return json.dumps(selected(REPORT_SECTIONS))


def section_captions():
    return [path for inputs in selected(REPORT_SECTIONS).values() for path in inputs.get("captions", [])]


def device_files():
    """RESULT_DEVICES' entries of the selected studies (a label starts with its study's name)."""
    studies = set(config["studies"])
    return {label: paths for label, paths in RESULT_DEVICES.items() if label.split()[0] in studies}


onstart:
    # The report names the profile its run used (workflow/scripts/provenance.py reads
    # this): an environment variable of the run, not a param, so that building the
    # same results under another executor does not rebuild the report.
    os.environ["TINYSCALE_EXECUTOR"] = workflow.executor_plugin.cli_prefix
