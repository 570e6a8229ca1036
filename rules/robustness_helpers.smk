# The robustness study's constants, wildcards and helper functions (rules/robustness.smk
# holds its rules: Snakemake's lint wants rules and functions apart).
from tinyscale.robustness.settings import check_samples

ROB = config["robustness"]
MODELS = list(ROB["training"]["models"])
SEEDS = ROB["training"]["seeds"]  # training seeds: a checkpoint per model and seed
METHODS = ROB["methods"]
EPS = [format_eps(e) for e in ROB["eps"]]
SCALE = ROB["scaling"]
OUT = "results/robustness"
ROB_LOGS = f"{LOGS}/robustness"


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


DATASET = f"{OUT}/data/{ROB['data']['source']}.npz"
CHECKPOINT = f"{OUT}/checkpoints/{{model}}__seed{{train_seed}}"
CELL = f"{OUT}/sweep/{{model}}__seed{{train_seed}}__{{method}}__eps{{eps}}.csv"

# A sample count the dataset cannot give stops here (a dry run included) once the
# dataset exists; before that, select_samples checks it when it starts.
try:
    check_samples(DATASET, ROB["samples"])
except ConfigError as err:
    raise WorkflowError(str(err)) from None


FIGURES = f"{OUT}/figures"
FIGURE_GROUPS = {
    "sweep": ["verified_vs_eps", "time_vs_eps", "memory_vs_eps", "verified_heatmap", "verdicts"],
    "training": ["training_curves"],
    "convergence": ["convergence"],
    "scaling": ["scaling"],
}
REPORT_ORDER = ["verified_vs_eps", "verified_heatmap", "verdicts", "convergence", "time_vs_eps", "memory_vs_eps",
                "training_curves", "scaling"]  # the figures in the PDF's order


def checkpoints(suffix=".pt"):
    """Every (model, training seed)'s checkpoint file ending in ``suffix``."""
    return expand(f"{CHECKPOINT}{suffix}", model=MODELS, train_seed=SEEDS)


def sweep_cells():
    return expand(CELL, model=MODELS, train_seed=SEEDS, method=METHODS, eps=EPS)


def recipe(wildcards):
    return as_json(ROB["training"]["models"][wildcards.model])


def crown_cell(wildcards):
    """alpha-CROWN reuses the CROWN cell of its model and eps (certificates CROWN already has)."""
    if wildcards.method == "alpha-crown":
        w = wildcards
        return CELL.format(model=w.model, train_seed=w.train_seed, method="crown", eps=w.eps)
    return []


def crown_flag(wildcards, input):
    return f"--crown-cell {input.crown}" if input.crown else ""


def scaling_runs():
    return [
        f"{OUT}/scaling/{SCALE['study']}/{n}n{p}p_run{r}.csv"
        for n, p in SCALE["grid"]
        for r in range(1, SCALE["repeats"] + 1)
    ]


def scaling_launch(wildcards):
    """torchrun for one scaling run; a rendezvous port per run, so that runs
    cannot collide."""
    w = wildcards
    name = f"{OUT}/scaling/{w.study}/{w.nodes}n{w.procs}p_run{w.run}.csv"
    runs = scaling_runs()
    port = SCALE["rdzv_port"] + (runs.index(name) if name in runs else len(runs))
    return torchrun("robustness/scaling_run.py", int(w.procs), int(w.nodes), port=port)


def robustness_figures(group, category):
    return figure_outputs(FIGURES, FIGURE_GROUPS[group], "robustness", category)
