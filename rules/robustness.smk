# Seed 000: robustness verification of tiny recursive models.
#   dataset -> checkpoint per (model, training seed) -> samples -> attack per (model, seed, eps)
#   -> cell per (model, seed, method, eps) -> sweep.csv; scaling runs of one cell's work;
#   the study's figures and its report section. Everything under results/robustness/.
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


def scaling_threads(wildcards):
    """A scaling run holds every core Snakemake has (at least one per process),
    so that no other job runs beside it and skews its timing. (Under Slurm a
    job gets whole cores of its own; threads then sets cpus_per_task.)"""
    if workflow.local_exec:
        return max(workflow.cores, int(wildcards.nodes) * int(wildcards.procs))
    return int(wildcards.procs)


def scaling_nodes(wildcards):
    return int(wildcards.nodes)


def scaling_gpus(wildcards):
    return gpus(int(wildcards.procs))


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
FIGURES = f"{OUT}/figures"
FIGURE_GROUPS = {
    "sweep": ["verified_vs_eps", "time_vs_eps", "memory_vs_eps", "verified_heatmap", "verdicts"],
    "training": ["training_curves"],
    "convergence": ["convergence"],
    "scaling": ["scaling"],
}
REPORT_ORDER = ["verified_vs_eps", "verified_heatmap", "verdicts", "convergence", "time_vs_eps", "memory_vs_eps",
                "training_curves", "scaling"]  # the figures in the PDF's order


def robustness_figures(group, category):
    return figure_outputs(FIGURES, FIGURE_GROUPS[group], "robustness", category)


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
