# Seeds 001/002: recursive reasoning models (TRM, HRM) on Sudoku.
#   a dataset per reasoning.datasets entry, in the TRM/HRM format; a TRM training per
#   reasoning.experiments entry; its report section.
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


rule trm_train:
    input:
        experiment_data,
    output:
        model=f"{EXPERIMENT}/model.pt",
        metrics=f"{EXPERIMENT}/metrics.csv",
        eval=f"{EXPERIMENT}/eval.json",
        tensorboard=directory(f"{EXPERIMENT}/tensorboard"),
    params:
        cmd=launch_training("reasoning/train.py"),
        data=experiment_folder,
        model=experiment_model,
        training=experiment_training,
        out=EXPERIMENT,
        # the resumable state: beside the outputs, so a failed job's cleanup keeps it
        state=f"{EXPERIMENT}/resume",
        scaling=config["launch"]["scaling"],
        device=config["device"],
        threads=threads_per_process(),
        seed=config["seed"],
    threads: config["threads"]
    resources:
        gpu=gpus(config["launch"]["nproc_per_node"]),
        **node_resources(config["launch"]["nnodes"]),
    log:
        f"{LOGS}/reasoning/{{experiment}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {params.data} --model {params.model:q} --training {params.training:q} "
        "--out {params.out} --state-dir {params.state} --seed {params.seed} --device {params.device} "
        "--threads {params.threads} --scaling {params.scaling} 2> {log}"


STUDY_TARGETS["reasoning"] = [f for d in DATASETS for f in dataset_files(d, ["dataset.json"])] + [
    f for e in EXPERIMENTS for f in experiment_files(e)
]
REPORT_SECTIONS["reasoning"] = {
    # every file of each split: the section reads them through dataset.load_split
    "datasets": [f for d in DATASETS for f in dataset_files(d)[1:]],
    "experiments": [f for e in EXPERIMENTS for f in experiment_files(e, ["eval.json", "metrics.csv"])],
}
RESULT_DEVICES["reasoning training"] = [f for e in EXPERIMENTS for f in experiment_files(e, ["eval.json"])]
