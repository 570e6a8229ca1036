# The curvature study's constants and helper functions (rules/curvature.smk holds its rules).
from tinyscale.curvature import settings as curvature_settings

CURV = config["curvature"]
CURV_OUT = "results/curvature"
CURV_LOGS = f"{LOGS}/curvature"
CURV_DATA = f"{CURV_OUT}/data.npz"
CLASS_ORDER = f"{CURV_OUT}/class_order.npy"
CURV_TASKS = CURV["classes"]["tasks"]
CURV_ANALYSED = curvature_settings.analysed_epochs(CURV)
CURV_LAST = CURV_ANALYSED[-1]
EPOCH_DIR = f"{CURV_OUT}/epoch_{{epoch}}"
EPOCH_FILES = ["per_image_curvature.npy", "per_image_directional_eig.npy", "per_image_labels.npy",
               "per_image_index.npy", "per_image_loss.npy", "metadata.json"]
# Checkpoints: trained here, or the user's own folder of the seed's files (curvature.checkpoints).
CURV_OWN = CURV["checkpoints"]
CURV_CHECKPOINTS = CURV_OWN or f"{CURV_OUT}/checkpoints"


wildcard_constraints:
    epoch=r"\d\d\d\d+",


def curvature_checkpoint(epoch):
    return f"{CURV_CHECKPOINTS}/{curvature_settings.checkpoint_name(CURV, int(epoch))}"


def check_own_checkpoints():
    """The user's checkpoint folder holds every analysed epoch: one error naming the first missing
    file before anything runs (their shapes are checked by curvature_checkpoints, below)."""
    for e in CURV_ANALYSED:
        if not Path(curvature_checkpoint(e)).is_file():
            raise WorkflowError(f"config key 'curvature.checkpoints': {curvature_checkpoint(e)} does not exist "
                                f"(epoch {e} is analysed; curvature.analysis.epochs picks the epochs)")


if CURV_OWN and "curvature" in config["studies"]:
    check_own_checkpoints()


def epoch_files(epoch, names=EPOCH_FILES):
    return [f"{EPOCH_DIR.format(epoch=f'{int(epoch):04d}')}/{name}" for name in names]


def task_classes(task):
    """How many classes task ``task`` trains on: the class order's first ones (the scripts read
    the order from the data rule's file, so these params do not change with it)."""
    return curvature_settings.classes_at_task(CURV, task)


def task_training_json():
    """What a task's training depends on (not the number of tasks: adding a task keeps the others)."""
    return as_json(CURV["training"])


def analysis_json():
    """What an epoch's values depend on (not which epochs, nor how many processes compute them)."""
    keep = ("h", "niter", "probe_seed", "form", "seed_compatible", "batch_size")
    return as_json({k: CURV["analysis"][k] for k in keep})


def epoch_classes(wildcards):
    return task_classes(curvature_settings.trained_task(CURV, int(wildcards.epoch)))


def epoch_layout():
    a = CURV["analysis"]
    return a["nnodes"], a["nproc_per_node"]


def analysis_launch(wildcards):
    """One process, or torchrun on one or several nodes (a port per epoch)."""
    nodes, procs = epoch_layout()
    if config["device"] == "xla":
        return script("curvature/analyse_epoch.py")     # XLA trains only; the analysis runs on the host
    if nodes * procs == 1:
        return script("curvature/analyse_epoch.py")
    port = CURV["analysis"]["rdzv_port"] + int(wildcards.epoch) % 97
    return torchrun("curvature/analyse_epoch.py", procs, nodes, port=port)


def analysis_threads(wildcards):
    return max(1, config["threads"] // epoch_layout()[1])


def analysis_cores(wildcards):
    return max(config["threads"], epoch_layout()[1])


C_SCALE = CURV["scaling"]
C_SCALE_RUN = f"{CURV_OUT}/scaling/{{nodes}}n{{procs}}p_run{{run}}.csv"


def curvature_scaling_runs():
    return [C_SCALE_RUN.format(nodes=n, procs=p, run=r)
            for n, p in C_SCALE["grid"] for r in range(1, C_SCALE["repeats"] + 1)]


def curvature_scaling_launch(wildcards):
    w = wildcards
    runs = curvature_scaling_runs()
    name = C_SCALE_RUN.format(nodes=w.nodes, procs=w.procs, run=w.run)
    port = C_SCALE["rdzv_port"] + (runs.index(name) if name in runs else len(runs))
    return torchrun("curvature/scaling_run.py", int(w.procs), int(w.nodes), port=port)


CURV_FIGURES = f"{CURV_OUT}/figures"
CURV_FIGURE_NAMES = ["curvature_by_arrival", "mislabelled_vs_clean", "auroc", "top_curvature"]
