# The reasoning study's constants, wildcards and helper functions (rules/reasoning.smk
# holds its rules).
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
