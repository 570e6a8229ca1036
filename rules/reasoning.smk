# Seeds 001/002: recursive reasoning models (TRM, HRM) on Sudoku.
#   a dataset per reasoning.datasets entry, in the TRM/HRM format; its report section.
#   Everything under results/reasoning/.
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


rule sudoku_dataset:
    output:
        dataset_files("{dataset}"),
    params:
        cmd=script("reasoning/build_dataset.py"),
        spec=dataset_spec,
        seed=config["seed"],
        out=SUDOKU,
    log:
        f"{LOGS}/reasoning/data/{{dataset}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --spec {params.spec:q} --seed {params.seed} --out {params.out} 2> {log}"


STUDY_TARGETS["reasoning"] = [f for d in DATASETS for f in dataset_files(d, ["dataset.json"])]
REPORT_SECTIONS["reasoning"] = {
    "datasets": [f for d in DATASETS for f in dataset_files(d, ["dataset.json", "all__inputs.npy",
                                                                "all__group_indices.npy"])[1:]],
}
