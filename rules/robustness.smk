# Seed 000: robustness verification of tiny recursive models.
#   checkpoint per (model, training seed) -> samples -> attack per (model, seed, eps)
#   -> cell per (model, seed, method, eps) -> sweep.csv


rule train_checkpoint:
    input:
        data=dataset_path(),
    output:
        checkpoint=f"{CHECKPOINT}.pt",
        metrics=f"{CHECKPOINT}.json",
        history=f"{CHECKPOINT}_history.csv",
    params:
        cmd=launch_training(),
        model_config=as_json(config["model"]),
        recipe=recipe,
        eval_attack=as_json(config["training"]["eval_attack"]),
        validation_fraction=config["training"]["validation_fraction"],
        scaling=config["launch"]["scaling"],
        device=config["device"],
        threads=threads_per_process(),
    threads: config["threads"]
    resources:
        gpu=gpus(config["launch"]["nproc_per_node"]),
        **node_resources(config["launch"]["nnodes"]),
    log:
        f"{LOGS}/robustness/train/{{model}}__seed{{train_seed}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {input.data} "
        "--model-config {params.model_config:q} --recipe {params.recipe:q} "
        "--eval-attack {params.eval_attack:q} --validation-fraction {params.validation_fraction} "
        "--seed {wildcards.train_seed} --device {params.device} --threads {params.threads} "
        "--scaling {params.scaling} --checkpoint {output.checkpoint} --metrics {output.metrics} --history {output.history} "
        "2> {log}"


rule select_samples:
    input:
        data=dataset_path(),
    output:
        "results/robustness/samples.npz",
    params:
        cmd=script("select_samples.py"),
        samples=ROB["samples"],
        seed=config["seed"],
    log:
        f"{LOGS}/robustness/select_samples.log",
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
        "results/robustness/attack/{model}__seed{train_seed}__eps{eps}.npz",
    params:
        cmd=launch("attack.py"),
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
        f"{LOGS}/robustness/attack/{{model}}__seed{{train_seed}}__eps{{eps}}.log",
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
        cmd=launch("verify_cell.py"),
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
        f"{LOGS}/robustness/verify/{{model}}__seed{{train_seed}}__{{method}}__eps{{eps}}.log",
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
        "results/robustness/sweep.csv",
    params:
        cmd=script("merge_sweep.py"),
    log:
        f"{LOGS}/robustness/merge_sweep.log",
    conda:
        ENV
    shell:
        "{params.cmd} --out {output} {input} 2> {log}"
