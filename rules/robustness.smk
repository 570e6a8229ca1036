# Seed 000: robustness verification of tiny recursive models.
#   dataset -> checkpoint per (model, training seed) -> samples -> attack per (model, seed, eps)
#   -> cell per (model, seed, method, eps) -> sweep.csv; scaling runs of one cell's work;
#   the study's figures and its report section. Everything under results/robustness/.


include: "robustness_helpers.smk"


# ---------------------------------------------------------------- data and training

rule prepare_data:
    output:
        f"{OUT}/data/{{source}}.npz",
    params:
        cmd=script("robustness/prepare_data.py"),
        mnist_dir=ROB["data"]["mnist_dir"] or "",
        test_fraction=ROB["data"]["test_fraction"],
        seed=config["seed"],
    log:
        f"{ROB_LOGS}/data/{{source}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --source {wildcards.source} "
        "--mnist-dir '{params.mnist_dir}' --test-fraction {params.test_fraction} "
        "--seed {params.seed} --out {output} 2> {log}"


rule train_checkpoint:
    input:
        data=DATASET,
    output:
        checkpoint=f"{CHECKPOINT}.pt",
        metrics=f"{CHECKPOINT}.json",
        history=f"{CHECKPOINT}_history.csv",
    params:
        cmd=launch_training("robustness/train.py"),
        model_config=as_json(ROB["model"]),
        recipe=recipe,
        eval_attack=as_json(ROB["training"]["eval_attack"]),
        validation_fraction=ROB["training"]["validation_fraction"],
        scaling=config["launch"]["scaling"],
        device=config["device"],
        threads=threads_per_process(),
    threads: config["threads"]
    resources:
        gpu=gpus(config["launch"]["nproc_per_node"]),
        **node_resources(config["launch"]["nnodes"]),
    log:
        f"{ROB_LOGS}/train/{{model}}__seed{{train_seed}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {input.data} "
        "--model-config {params.model_config:q} --recipe {params.recipe:q} "
        "--eval-attack {params.eval_attack:q} --validation-fraction {params.validation_fraction} "
        "--seed {wildcards.train_seed} --device {params.device} --threads {params.threads} "
        "--scaling {params.scaling} --checkpoint {output.checkpoint} --metrics {output.metrics} --history {output.history} "
        "2> {log}"


# ---------------------------------------------------------------- the sweep

rule select_samples:
    input:
        data=DATASET,
    output:
        f"{OUT}/samples.npz",
    params:
        cmd=script("robustness/select_samples.py"),
        samples=ROB["samples"],
        seed=config["seed"],
    log:
        f"{ROB_LOGS}/select_samples.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {input.data} "
        "--samples {params.samples} --seed {params.seed} --out {output} 2> {log}"


rule attack:
    input:
        checkpoint=rules.train_checkpoint.output.checkpoint,
        samples=rules.select_samples.output[0],
    output:
        f"{OUT}/attack/{{model}}__seed{{train_seed}}__eps{{eps}}.npz",
    params:
        cmd=launch("robustness/attack.py"),
        attack=as_json(ROB["attack"]),
        batch_size=ROB["batch_size"],
        seed=config["seed"],
        device=host_device(),
        threads=threads_per_process(),
    threads: config["threads"]
    resources:
        gpu=gpus(config["launch"]["nproc_per_node"]),
        **node_resources(config["launch"]["nnodes"]),
    log:
        f"{ROB_LOGS}/attack/{{model}}__seed{{train_seed}}__eps{{eps}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --checkpoint {input.checkpoint} "
        "--samples {input.samples} --eps {wildcards.eps} --attack {params.attack:q} "
        "--batch-size {params.batch_size} --seed {params.seed} --device {params.device} "
        "--threads {params.threads} --out {output} 2> {log}"


rule verify_cell:
    input:
        checkpoint=rules.train_checkpoint.output.checkpoint,
        samples=rules.select_samples.output[0],
        attack=rules.attack.output[0],
        crown=crown_cell,
    output:
        CELL,
    params:
        cmd=launch("robustness/verify_cell.py"),
        crown_flag=crown_flag,
        batch_size=ROB["batch_size"],
        timeout=ROB["timeout_s"],
        alpha=as_json(ROB["alpha_crown"]),
        seed=config["seed"],
        name=config["name"],
        device=host_device(),
        threads=threads_per_process(),
    threads: config["threads"]
    resources:
        gpu=gpus(config["launch"]["nproc_per_node"]),
        **node_resources(config["launch"]["nnodes"]),
    log:
        f"{ROB_LOGS}/verify/{{model}}__seed{{train_seed}}__{{method}}__eps{{eps}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --checkpoint {input.checkpoint} "
        "--samples {input.samples} --attack {input.attack} {params.crown_flag} "
        "--model-name {wildcards.model} --train-seed {wildcards.train_seed} --method {wildcards.method} --eps {wildcards.eps} "
        "--batch-size {params.batch_size} --timeout {params.timeout} --alpha {params.alpha:q} "
        "--seed {params.seed} --config-name {params.name} --device {params.device} "
        "--threads {params.threads} --out {output} 2> {log}"


rule merge_sweep:
    input:
        sweep_cells(),
    output:
        f"{OUT}/sweep.csv",
    params:
        cmd=script("robustness/merge_sweep.py"),
    log:
        f"{ROB_LOGS}/merge_sweep.log",
    conda:
        ENV
    shell:
        "{params.cmd} --out {output} {input} 2> {log}"


# ---------------------------------------------------------------- scaling runs
# One sweep cell's work over (nodes, processes per node) x repeats.

rule scaling_run:
    wildcard_constraints:
        nodes="1",
    input:
        checkpoint=f"{CHECKPOINT}.pt".format(model=SCALE["model"] or MODELS[0], train_seed=SEEDS[0]),
        samples=rules.select_samples.output[0],
    output:
        f"{OUT}/scaling/{{study}}/{{nodes}}n{{procs}}p_run{{run}}.csv",
    params:
        cmd=scaling_launch,
        method=SCALE["method"],
        eps=SCALE["eps"],
        attack=as_json(ROB["attack"]),
        batch_size=SCALE["batch_size"],
        min_seconds=SCALE["min_seconds"],
        seed=config["seed"],
        device=host_device(),
    threads: scaling_threads
    resources:
        gpu=scaling_gpus,
    log:
        f"{ROB_LOGS}/scaling/{{study}}/{{nodes}}n{{procs}}p_run{{run}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --checkpoint {input.checkpoint} --samples {input.samples} "
        "--method {params.method} --eps {params.eps} --attack {params.attack:q} "
        "--batch-size {params.batch_size} --nodes {wildcards.nodes} --repeat {wildcards.run} "
        "--seed {params.seed} --device {params.device} --threads 1 --min-seconds {params.min_seconds} "
        "--out {output} 2> {log}"


# Runs over several nodes: one torchrun agent per node (srun in a Slurm job).
use rule scaling_run as scaling_run_multinode with:
    wildcard_constraints:
        nodes=r"[2-9]|[1-9]\d+",
    resources:
        gpu=scaling_gpus,
        **node_resources(scaling_nodes),


rule scaling_table:
    input:
        scaling_runs(),
    output:
        table=f"{OUT}/scaling/scaling.csv",
    params:
        cmd=script("scaling_table.py"),
    log:
        f"{ROB_LOGS}/scaling/scaling_table.log",
    conda:
        ENV
    shell:
        "{params.cmd} --out {output.table} {input} 2> {log}"


# ---------------------------------------------------------------- figures and report section
# Each figure rule reads only the results it draws, so that a changed result rebuilds
# just the figures that show it. Captions: workflow/report/robustness/<figure>.rst (they
# caption `snakemake --report` too).
localrules:
    robustness_sweep_figures,
    robustness_training_figures,
    robustness_convergence_figure,
    robustness_scaling_figure,


rule robustness_sweep_figures:
    input:
        sweep=rules.merge_sweep.output[0],
    output:
        **robustness_figures("sweep", "Robustness"),
    params:
        cmd=script("robustness/figures.py"),
        models=MODELS,
    log:
        f"{ROB_LOGS}/figures/sweep.log",
    conda:
        ENV
    shell:
        "{params.cmd} sweep --sweep {input.sweep} --models {params.models} --out {output} 2> {log}"


rule robustness_training_figures:
    input:
        metrics=checkpoints(".json"),
        histories=checkpoints("_history.csv"),
    output:
        **robustness_figures("training", "Robustness: training"),
    params:
        cmd=script("robustness/figures.py"),
        models=MODELS,
    log:
        f"{ROB_LOGS}/figures/training.log",
    conda:
        ENV
    shell:
        "{params.cmd} training --metrics {input.metrics} --histories {input.histories} "
        "--models {params.models} --out {output} 2> {log}"


rule robustness_convergence_figure:
    input:
        cells=sweep_cells(),
    output:
        **robustness_figures("convergence", "Robustness"),
    params:
        cmd=script("robustness/figures.py"),
        models=MODELS,
    log:
        f"{ROB_LOGS}/figures/convergence.log",
    conda:
        ENV
    shell:
        "{params.cmd} convergence --cells {input.cells} --models {params.models} --out {output} 2> {log}"


rule robustness_scaling_figure:
    input:
        scaling=rules.scaling_table.output.table,
    output:
        **robustness_figures("scaling", "Robustness: scaling"),
    params:
        cmd=script("robustness/figures.py"),
    log:
        f"{ROB_LOGS}/figures/scaling.log",
    conda:
        ENV
    shell:
        "{params.cmd} scaling --scaling {input.scaling} --out {output} 2> {log}"


STUDY_TARGETS["robustness"] = [rules.merge_sweep.output[0], rules.scaling_table.output.table]
REPORT_SECTIONS["robustness"] = {
    "sweep": [rules.merge_sweep.output[0]],
    "metrics": checkpoints(".json"),
    "scaling": [rules.scaling_table.output.table],
    "figures": [f"{FIGURES}/{name}.png" for name in REPORT_ORDER],
    "captions": [f"robustness/{name}.rst" for name in REPORT_ORDER],  # in workflow/report/
}
RESULT_DEVICES.update({
    "robustness training": checkpoints(".json"),
    "robustness verification": sweep_cells(),
    "robustness scaling": [rules.scaling_table.output.table],
})
