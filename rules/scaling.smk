# Scaling runs as targets: one sweep cell's work over (nodes, processes per node) x repeats.
SCALE = config["scaling"]


rule scaling_run:
    wildcard_constraints:
        nodes="1",
    input:
        checkpoint=f"{CHECKPOINT}.pt".format(model=SCALE["model"] or MODELS[0], train_seed=SEEDS[0]),
        samples=rules.select_samples.output[0],
    output:
        "results/scaling/{study}/{nodes}n{procs}p_run{run}.csv",
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
        f"{LOGS}/scaling/{{study}}/{{nodes}}n{{procs}}p_run{{run}}.log",
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
        table="results/scaling/scaling.csv",
    params:
        cmd=script("scaling_table.py"),
    log:
        f"{LOGS}/scaling/scaling_table.log",
    conda:
        ENV
    shell:
        "{params.cmd} --out {output.table} {input} 2> {log}"
