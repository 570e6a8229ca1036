# Seed 004: the semi-supervised VAE's label-robustness grid. Every point (n_labels x corruption
# x alpha x seed, a snakemake.utils.Paramspace over the config's slices) is one file target,
#   results/ssvae/runs/n_labels~200/corruption~0.2/alpha~50.0/seed~0/metrics.json
# built, rebuilt or added alone; grid.csv and summary.csv merge them; a DDP throughput row,
# figures and the report section read those. Everything under results/ssvae/.


include: "ssvae_helpers.smk"


if not SS_STACKED:

    rule ssvae_point:
        input:
            ssvae_data_inputs(),
        output:
            f"{SS_RUN}/metrics.json",
        params:
            cmd=launch("ssvae/train_point.py"),
            block=ssvae_block(),
            point=ssvae_point_args,
            state=f"{SS_RUN}/resume",
            device=host_device(),
            threads=threads_per_process(),
        threads: config["threads"]
        resources:
            gpu=gpus(config["launch"]["nproc_per_node"]),
            runtime=240,
            mem_mb=4000,
            **node_resources(config["launch"]["nnodes"]),
        log:
            f"{SS_LOGS}/runs/{SS_SPACE.wildcard_pattern}.log",
        conda:
            ENV
        shell:
            "{params.cmd} --block {params.block:q} {params.point} --out {output} --state-dir {params.state} "
            "--device {params.device} --threads {params.threads} 2> {log}"

else:

    # A point's seeds in one process (torch.func.vmap over their stacked weights).
    rule ssvae_point_seeds:
        input:
            ssvae_data_inputs(),
        output:
            [f"{SS_OUT}/runs/n_labels~{{n_labels}}/corruption~{{corruption}}/alpha~{{alpha}}/seed~{s}/metrics.json"
             for s in SSVAE["grid"]["seeds"]],
        params:
            cmd=script("ssvae/train_seeds.py"),
            block=ssvae_block(),
            point=ssvae_seeds_point_args,
            seeds=" ".join(map(str, SSVAE["grid"]["seeds"])),
            state=f"{SS_OUT}/runs/n_labels~{{n_labels}}/corruption~{{corruption}}/alpha~{{alpha}}/resume",
            device=host_device(),
            threads=config["threads"],
        threads: config["threads"]
        resources:
            gpu=gpus(1),
            runtime=240,
            mem_mb=4000,
        log:
            f"{SS_LOGS}/runs/n_labels~{{n_labels}}/corruption~{{corruption}}/alpha~{{alpha}}/seeds.log",
        conda:
            ENV
        shell:
            "{params.cmd} --block {params.block:q} {params.point} --seeds {params.seeds} --out {output} "
            "--state-dir {params.state} --device {params.device} --threads {params.threads} 2> {log}"


localrules:
    ssvae_grid,


rule ssvae_grid:
    input:
        ssvae_runs(),
    output:
        grid=f"{SS_OUT}/grid.csv",
        summary=f"{SS_OUT}/summary.csv",
    params:
        cmd=script("ssvae/merge.py"),
    log:
        f"{SS_LOGS}/grid.log",
    conda:
        ENV
    shell:
        "{params.cmd} --grid {output.grid} --summary {output.summary} {input} 2> {log}"


# ---------------------------------------------------------------- throughput

rule ssvae_scaling_run:
    wildcard_constraints:
        nodes="1",
    input:
        ssvae_data_inputs(),
    output:
        SS_SCALE_RUN,
    params:
        cmd=ssvae_scaling_launch,
        block=ssvae_block(),
        # the grid's first point with the most labels: a typical mix of supervised batches
        point="--n-labels {} --corruption {} --alpha {} --seed {}".format(
            *max(ssvae_settings.points(SSVAE), key=lambda p: (p[0], -p[1], -p[2], -p[3]))),
        min_seconds=SS_SCALE["min_seconds"],
        device=host_device(),
    threads: scaling_threads
    resources:
        gpu=scaling_gpus,
    log:
        f"{SS_LOGS}/scaling/{{nodes}}n{{procs}}p_run{{run}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --block {params.block:q} {params.point} --nodes {wildcards.nodes} --repeat {wildcards.run} "
        "--min-seconds {params.min_seconds} --device {params.device} --threads 1 --out {output} 2> {log}"


use rule ssvae_scaling_run as ssvae_scaling_run_multinode with:
    wildcard_constraints:
        nodes=r"[2-9]|[1-9]\d+",
    resources:
        gpu=scaling_gpus,
        **node_resources(scaling_nodes),


rule ssvae_scaling_table:
    input:
        ssvae_scaling_runs(),
    output:
        table=f"{SS_OUT}/scaling/scaling.csv",
    params:
        cmd=script("scaling_table.py"),
    log:
        f"{SS_LOGS}/scaling/scaling_table.log",
    conda:
        ENV
    shell:
        "{params.cmd} --out {output.table} {input} 2> {log}"


# ---------------------------------------------------------------- figures and report section

localrules:
    ssvae_figures,


rule ssvae_figures:
    input:
        grid=rules.ssvae_grid.output.grid,
        summary=rules.ssvae_grid.output.summary,
    output:
        **figure_outputs(SS_FIGURES, SS_FIGURE_NAMES, "ssvae", "SSVAE"),
    params:
        cmd=script("ssvae/figures.py"),
    log:
        f"{SS_LOGS}/figures.log",
    conda:
        ENV
    shell:
        "{params.cmd} --grid {input.grid} --summary {input.summary} --out {output} 2> {log}"


STUDY_TARGETS["ssvae"] = [
    rules.ssvae_grid.output.grid,
    rules.ssvae_scaling_table.output.table,
]
REPORT_SECTIONS["ssvae"] = {
    "grid": [rules.ssvae_grid.output.grid],
    "summary": [rules.ssvae_grid.output.summary],
    "scaling": [rules.ssvae_scaling_table.output.table],
    "figures": [f"{SS_FIGURES}/{name}.png" for name in SS_FIGURE_NAMES],
    "captions": [f"ssvae/{name}.rst" for name in SS_FIGURE_NAMES],  # in workflow/report/
}
RESULT_DEVICES.update({
    "ssvae training": [rules.ssvae_grid.output.grid],
    "ssvae scaling": [rules.ssvae_scaling_table.output.table],
})
