# Seeds 001/002: recursive reasoning models (TRM, HRM, a plain transformer) on Sudoku.
#   a dataset per reasoning.datasets entry, in the TRM/HRM format; a training per
#   reasoning.experiments entry (the base settings with its overrides); experiments.csv and a
#   table per suite; training throughput over processes and nodes (scaling.csv); figures and
#   the report section. Everything under results/reasoning/.


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
        f"{REASONING_LOGS}/data/{{dataset}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --spec {params.spec:q} --seed {params.seed} --out {params.out} 2> {log}"


rule reasoning_train:
    wildcard_constraints:
        experiment=names_pattern([e for e in EXPERIMENTS if e not in MULTINODE]),
    input:
        experiment_data,
    output:
        model=f"{EXPERIMENT}/model.pt",
        metrics=f"{EXPERIMENT}/metrics.csv",
        eval=f"{EXPERIMENT}/eval.json",
        tensorboard=directory(f"{EXPERIMENT}/tensorboard"),
    params:
        cmd=experiment_launch,
        data=experiment_folder,
        model=experiment_model,
        training=experiment_training,
        out=EXPERIMENT,
        # the resumable state: beside the outputs, so a failed job's cleanup keeps it
        state=f"{EXPERIMENT}/resume",
        scaling=config["launch"]["scaling"],
        device=config["device"],
        threads=experiment_threads,
        seed=config["seed"],
    threads: experiment_cores
    resources:
        gpu=experiment_gpus,
    log:
        f"{REASONING_LOGS}/{{experiment}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {params.data} --model {params.model:q} --training {params.training:q} "
        "--out {params.out} --state-dir {params.state} --seed {params.seed} --device {params.device} "
        "--threads {params.threads} --scaling {params.scaling} 2> {log}"


# Experiments across several nodes: one torchrun agent per node (srun in a Slurm job).
use rule reasoning_train as reasoning_train_multinode with:
    wildcard_constraints:
        experiment=names_pattern(MULTINODE),
    resources:
        gpu=experiment_gpus,
        **node_resources(experiment_nodes),


rule reasoning_experiments:
    input:
        [f for e in EXPERIMENTS for f in experiment_files(e, ["eval.json"])],
    output:
        f"{REASONING_OUT}/experiments.csv",
    params:
        cmd=script("reasoning/experiments_table.py"),
        table=experiment_table(EXPERIMENTS),
    log:
        f"{REASONING_LOGS}/experiments.log",
    conda:
        ENV
    shell:
        "{params.cmd} --table {params.table:q} --out {output} {input} 2> {log}"


use rule reasoning_experiments as reasoning_suite with:
    input:
        suite_evals,
    output:
        f"{REASONING_OUT}/suites/{{suite}}.csv",
    params:
        cmd=script("reasoning/experiments_table.py"),
        table=suite_table,
    log:
        f"{REASONING_LOGS}/suites/{{suite}}.log",


# ---------------------------------------------------------------- training throughput
# The scaling experiment's training steps over (nodes, processes per node) x repeats.

rule reasoning_scaling_run:
    wildcard_constraints:
        nodes="1",
    input:
        dataset_files(settings_of(R_SCALE_EXPERIMENT)["dataset"]),
    output:
        R_SCALE_RUN,
    params:
        cmd=reasoning_scaling_launch,
        data=scaling_data,
        model=scaling_settings("model"),
        training=scaling_settings("training"),
        min_seconds=R_SCALE["min_seconds"],
        seed=config["seed"],
        device=host_device(),
    threads: scaling_threads
    resources:
        gpu=scaling_gpus,
    log:
        f"{REASONING_LOGS}/scaling/{{nodes}}n{{procs}}p_run{{run}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {params.data} --model {params.model:q} --training {params.training:q} "
        "--nodes {wildcards.nodes} --repeat {wildcards.run} --min-seconds {params.min_seconds} "
        "--seed {params.seed} --device {params.device} --threads 1 --out {output} 2> {log}"


use rule reasoning_scaling_run as reasoning_scaling_run_multinode with:
    wildcard_constraints:
        nodes=r"[2-9]|[1-9]\d+",
    resources:
        gpu=scaling_gpus,
        **node_resources(scaling_nodes),


rule reasoning_scaling_table:
    input:
        reasoning_scaling_runs(),
    output:
        table=f"{REASONING_OUT}/scaling/scaling.csv",
    params:
        cmd=script("scaling_table.py"),
    log:
        f"{REASONING_LOGS}/scaling/scaling_table.log",
    conda:
        ENV
    shell:
        "{params.cmd} --out {output.table} {input} 2> {log}"


# ---------------------------------------------------------------- figures and report section

localrules:
    reasoning_figures,
    reasoning_suite,
    reasoning_experiments,


rule reasoning_figures:
    input:
        experiments=rules.reasoning_experiments.output[0],
        metrics=[f for e in EXPERIMENTS for f in experiment_files(e, ["metrics.csv"])],
    output:
        **figure_outputs(REASONING_FIGURES, REASONING_FIGURE_NAMES, "reasoning", "Reasoning"),
    params:
        cmd=script("reasoning/figures.py"),
        tn_grid=f"--tn-grid {' '.join(TN_GRID)}" if TN_GRID else "",
    log:
        f"{REASONING_LOGS}/figures.log",
    conda:
        ENV
    shell:
        "{params.cmd} --experiments {input.experiments} --metrics {input.metrics} {params.tn_grid} "
        "--out {output} 2> {log}"


STUDY_TARGETS["reasoning"] = [
    *[f for d in DATASETS for f in dataset_files(d, ["dataset.json"])],
    rules.reasoning_experiments.output[0],
    rules.reasoning_scaling_table.output.table,
    *[f"{REASONING_OUT}/suites/{s}.csv" for s in SUITES],
]
REPORT_SECTIONS["reasoning"] = {
    # every file of each split: the section reads them through dataset.load_split
    "datasets": [f for d in DATASETS for f in dataset_files(d)[1:]],
    "experiments": [rules.reasoning_experiments.output[0]],
    "metrics": [f for e in EXPERIMENTS for f in experiment_files(e, ["metrics.csv"])],
    "scaling": [rules.reasoning_scaling_table.output.table],
    "figures": [f"{REASONING_FIGURES}/{name}.png" for name in REASONING_FIGURE_NAMES],
    "captions": [f"reasoning/{name}.rst" for name in REASONING_FIGURE_NAMES],  # in workflow/report/
}
RESULT_DEVICES.update({
    "reasoning training": [f for e in EXPERIMENTS for f in experiment_files(e, ["eval.json"])],
    "reasoning scaling": [rules.reasoning_scaling_table.output.table],
})
