# The reasoning study's constants, wildcards and helper functions (rules/reasoning.smk
# holds its rules).
from tinyscale.reasoning import settings as reasoning_settings

REASONING = config["reasoning"]
DATASETS = REASONING["datasets"]
SUDOKU = "results/reasoning/data/{dataset}"
SPLIT_FILES = ["dataset.json", "all__inputs.npy", "all__labels.npy", "all__puzzle_identifiers.npy",
               "all__puzzle_indices.npy", "all__group_indices.npy"]


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)) or "(?!)",


def dataset_files(dataset, names=SPLIT_FILES):
    """A dataset's files: ``names`` in each split, and the folder's identifiers.json."""
    folder = SUDOKU.format(dataset=dataset)
    return [f"{folder}/identifiers.json"] + [f"{folder}/{split}/{name}" for split in ("train", "test") for name in names]


def dataset_spec(wildcards):
    return as_json(DATASETS[wildcards.dataset])


# ---------------------------------------------------------------- TRM experiments

EXPERIMENTS = list(REASONING["experiments"])
EXPERIMENT = "results/reasoning/{experiment}"
EXPERIMENT_FILES = ["model.pt", "metrics.csv", "eval.json"]


wildcard_constraints:
    experiment="|".join(map(re.escape, EXPERIMENTS)) or "(?!)",


def experiment_settings(wildcards):
    return reasoning_settings.experiment(REASONING, wildcards.experiment)


def experiment_data(wildcards):
    """The experiment's dataset files (it reads them all)."""
    return dataset_files(experiment_settings(wildcards)["dataset"])


def experiment_folder(wildcards):
    return SUDOKU.format(dataset=experiment_settings(wildcards)["dataset"])


def experiment_model(wildcards):
    return as_json(experiment_settings(wildcards)["model"])


def experiment_training(wildcards):
    return as_json(experiment_settings(wildcards)["training"])


def experiment_files(experiment, names=EXPERIMENT_FILES):
    return [f"{EXPERIMENT.format(experiment=experiment)}/{name}" for name in names]
