# Seeds 001/002: recursive reasoning models (TRM, HRM) on Sudoku.
#   a dataset per reasoning.datasets entry, in the TRM/HRM format; its report section.
#   Everything under results/reasoning/.


include: "reasoning_helpers.smk"


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
    # every file of each split: the section reads them through dataset.load_split
    "datasets": [f for d in DATASETS for f in dataset_files(d)[1:]],
}
