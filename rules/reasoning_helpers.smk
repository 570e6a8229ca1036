# The reasoning study's constants, wildcards and helper functions (rules/reasoning.smk
# holds its rules).
from tinyscale.reasoning import settings as reasoning_settings

REASONING = config["reasoning"]
DATASETS = REASONING["datasets"]
SUDOKU = "results/reasoning/data/{dataset}"
SPLIT_FILES = ["dataset.json", "all__inputs.npy", "all__labels.npy", "all__puzzle_identifiers.npy",
               "all__puzzle_indices.npy", "all__group_indices.npy"]
REASONING_OUT = "results/reasoning"
REASONING_LOGS = f"{LOGS}/reasoning"


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)) or "(?!)",


def dataset_files(dataset, names=SPLIT_FILES):
    """A dataset's files: ``names`` in each split, and the folder's identifiers.json."""
    folder = SUDOKU.format(dataset=dataset)
    return [f"{folder}/identifiers.json"] + [f"{folder}/{split}/{name}" for split in ("train", "test") for name in names]


def dataset_spec(wildcards):
    return as_json(DATASETS[wildcards.dataset])


# ---------------------------------------------------------------- experiments and suites

EXPERIMENTS = list(REASONING["experiments"])
SUITES = REASONING["suites"]
BASELINE = reasoning_settings.baseline(REASONING)
EXPERIMENT = f"{REASONING_OUT}/{{experiment}}"
EXPERIMENT_FILES = ["model.pt", "metrics.csv", "eval.json"]


def settings_of(name):
    return reasoning_settings.experiment(REASONING, name)


def names_pattern(names):
    return "|".join(map(re.escape, names)) or "(?!)"


# experiments across several nodes run under their own rule (a job of several Slurm nodes)
MULTINODE = [e for e in EXPERIMENTS if reasoning_settings.processes(config, settings_of(e))[0] > 1]


wildcard_constraints:
    suite=names_pattern(SUITES),


def experiment_settings(wildcards):
    return settings_of(wildcards.experiment)


def experiment_data(wildcards):
    """The experiment's dataset files (it reads them all): experiments on one dataset share it."""
    return dataset_files(experiment_settings(wildcards)["dataset"])


def experiment_folder(wildcards):
    return SUDOKU.format(dataset=experiment_settings(wildcards)["dataset"])


def experiment_model(wildcards):
    return as_json(experiment_settings(wildcards)["model"])


def experiment_training(wildcards):
    return as_json(experiment_settings(wildcards)["training"])


def experiment_layout(wildcards):
    """(nodes, processes per node) of the experiment."""
    return reasoning_settings.processes(config, experiment_settings(wildcards))


def experiment_launch(wildcards):
    """The training command: under torch_xla on device xla; one process, or torchrun when the
    experiment (or the launch block) asks for more than one."""
    if config["device"] == "xla":
        return launch_training("reasoning/train.py")
    nodes, procs = experiment_layout(wildcards)
    if nodes * procs == 1:
        return script("reasoning/train.py")
    port = config["launch"]["rdzv_port"] + EXPERIMENTS.index(wildcards.experiment)
    return torchrun("reasoning/train.py", procs, nodes, port=port)


def experiment_threads(wildcards):
    """CPU threads of each of the experiment's processes (the job's threads shared on a node)."""
    return max(1, config["threads"] // experiment_layout(wildcards)[1])


def experiment_cores(wildcards):
    """Cores the job holds: its threads, and at least one per process on a node."""
    return max(config["threads"], experiment_layout(wildcards)[1])


def experiment_gpus(wildcards):
    return gpus(experiment_layout(wildcards)[1])


def experiment_nodes(wildcards):
    return experiment_layout(wildcards)[0]


def experiment_files(experiment, names=EXPERIMENT_FILES):
    return [f"{EXPERIMENT.format(experiment=experiment)}/{name}" for name in names]


def experiment_table(names):
    """What experiments.csv says of each experiment beyond its eval.json: the suites that list
    it, those it leads (a suite's first: what its others are compared with), whether it is the
    study's baseline, a published reference value (a param: a changed suite rewrites only the
    tables and what shows them)."""
    return as_json([{"experiment": name, "suites": reasoning_settings.suites_of(REASONING, name),
                     "leads": [s for s, members in SUITES.items() if members[0] == name],
                     "baseline": name == BASELINE, "reference": settings_of(name)["reference"]}
                    for name in names])   # a list: the rows keep the config's order


def suite_members(suite):
    return SUITES[suite]


def suite_evals(wildcards):
    return [f for e in suite_members(wildcards.suite) for f in experiment_files(e, ["eval.json"])]


def suite_table(wildcards):
    return experiment_table(suite_members(wildcards.suite))


# ---------------------------------------------------------------- figures and scaling

TN_GRID = reasoning_settings.tn_grid(REASONING)
REASONING_FIGURES = f"{REASONING_OUT}/figures"
REASONING_FIGURE_NAMES = ["accuracy_by_suite", "learning_curves", "params_vs_accuracy"] + (["tn_heatmap"] if TN_GRID else [])
R_SCALE = REASONING["scaling"]
R_SCALE_EXPERIMENT = reasoning_settings.scaling_experiment(REASONING)
R_SCALE_RUN = f"{REASONING_OUT}/scaling/{{nodes}}n{{procs}}p_run{{run}}.csv"


def reasoning_scaling_runs():
    return [R_SCALE_RUN.format(nodes=n, procs=p, run=r)
            for n, p in R_SCALE["grid"] for r in range(1, R_SCALE["repeats"] + 1)]


def reasoning_scaling_launch(wildcards):
    """torchrun for one scaling run, a rendezvous port per run."""
    w = wildcards
    runs = reasoning_scaling_runs()
    name = R_SCALE_RUN.format(nodes=w.nodes, procs=w.procs, run=w.run)
    port = R_SCALE["rdzv_port"] + (runs.index(name) if name in runs else len(runs))
    return torchrun("reasoning/scaling_run.py", int(w.procs), int(w.nodes), port=port)


def scaling_data(wildcards):
    """The scaling experiment's dataset folder."""
    return SUDOKU.format(dataset=settings_of(R_SCALE_EXPERIMENT)["dataset"])


def scaling_settings(key):
    return as_json(settings_of(R_SCALE_EXPERIMENT)[key])
