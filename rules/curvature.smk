# Seed 003: per-image input-loss curvature across the epochs of class-incremental training.
#   the data split, label noise and class order; the epoch-0 (untrained) checkpoint and one
#   rule per task, each training from the previous task's last checkpoint (or the user's own
#   checkpoints, curvature.checkpoints); each saved epoch's per-image curvature; the summary
#   tables, figures, scaling runs and the report section. Everything under results/curvature/.


include: "curvature_helpers.smk"


rule curvature_data:
    input:
        [CURV["classes"]["order"]] if CURV["classes"]["order"] else [],
    output:
        split=CURV_DATA,
        order=CLASS_ORDER,
    params:
        cmd=script("curvature/prepare_data.py"),
        data=as_json(CURV["data"]),
        order_from=f"--order-from {CURV['classes']['order']}" if CURV["classes"]["order"] else "",
        seed=config["seed"],
    log:
        f"{CURV_LOGS}/data.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {params.data:q} {params.order_from} --seed {params.seed} "
        "--out {output.split} --order {output.order} 2> {log}"


if not CURV_OWN:

    rule curvature_init:
        output:
            curvature_checkpoint(0),
        params:
            cmd=script("curvature/init_checkpoint.py"),
            data=as_json(CURV["data"]),
            model=as_json(CURV["model"]),
            seed=config["seed"],
        log:
            f"{CURV_LOGS}/checkpoints/epoch_0.log",
        conda:
            ENV
        shell:
            "{params.cmd} --data {params.data:q} --model {params.model:q} --seed {params.seed} "
            "--out {output} 2> {log}"

    # One rule per task: it starts from the previous task's last checkpoint. Its params
    # name only this task, so adding tasks leaves the existing ones built.
    for _task in range(CURV_TASKS):
        _epochs = curvature_settings.task_epochs(CURV, _task)

        rule:
            name:
                f"curvature_task_{_task}"
            input:
                start=curvature_checkpoint(_task * CURV["training"]["epochs_per_task"]),
                split=CURV_DATA,
                order=CLASS_ORDER,
            output:
                checkpoints=[curvature_checkpoint(e) for e in _epochs],
                history=f"{CURV_OUT}/training/task_{_task}.csv",
            params:
                cmd=script("curvature/train_task.py"),
                data=as_json(CURV["data"]),
                model=as_json(CURV["model"]),
                training=task_training_json(),
                task=_task,
                classes=task_classes(_task),
                epochs=" ".join(map(str, _epochs)),
                state=f"{CURV_OUT}/training/task_{_task}.resume",
                seed=config["seed"],
                device=host_device(),
                threads=config["threads"],
            threads: config["threads"]
            resources:
                gpu=gpus(1),
                # here, not in a profile's set-resources (which names rules): a task of the seed's
                # 200 epochs is hours on a GPU; a retried task resumes from its saved state
                runtime=1440,
                mem_mb=6000,
            log:
                f"{CURV_LOGS}/training/task_{_task}.log",
            conda:
                ENV
            shell:
                "{params.cmd} --data {params.data:q} --model {params.model:q} --training {params.training:q} "
                "--task {params.task} --classes {params.classes} --split {input.split} --order {input.order} "
                "--start {input.start} --epochs {params.epochs} --checkpoints {output.checkpoints} "
                "--history {output.history} --state-dir {params.state} --seed {params.seed} "
                "--device {params.device} --threads {params.threads} 2> {log}"

else:

    # The user's checkpoints: every one loads into the configured net, checked before any epoch runs.
    rule curvature_checkpoints:
        input:
            [curvature_checkpoint(e) for e in CURV_ANALYSED],
        output:
            f"{CURV_OUT}/checkpoints.json",
        params:
            cmd=script("curvature/check_checkpoints.py"),
            data=as_json(CURV["data"]),
            model=as_json(CURV["model"]),
            seed=config["seed"],
        log:
            f"{CURV_LOGS}/checkpoints.log",
        conda:
            ENV
        shell:
            "{params.cmd} --data {params.data:q} --model {params.model:q} --seed {params.seed} "
            "--out {output} {input} 2> {log}"


rule curvature_epoch:
    input:
        checkpoint=lambda w: curvature_checkpoint(w.epoch),
        checked=[f"{CURV_OUT}/checkpoints.json"] if CURV_OWN else [],
        split=CURV_DATA,
        order=CLASS_ORDER,
    output:
        **{name.split(".")[0]: f"{EPOCH_DIR}/{name}" for name in EPOCH_FILES},
    params:
        cmd=analysis_launch,
        data=as_json(CURV["data"]),
        model=as_json(CURV["model"]),
        analysis=analysis_json(),
        classes=epoch_classes,
        out=EPOCH_DIR,
        seed=config["seed"],
        device=host_device(),
        threads=analysis_threads,
    threads: analysis_cores
    resources:
        gpu=gpus(CURV["analysis"]["nproc_per_node"]),
        **node_resources(CURV["analysis"]["nnodes"]),
    log:
        f"{CURV_LOGS}/epoch_{{epoch}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {params.data:q} --model {params.model:q} --analysis {params.analysis:q} "
        "--epoch {wildcards.epoch} --classes {params.classes} --split {input.split} --order {input.order} "
        "--checkpoint {input.checkpoint} --out {params.out} --seed {params.seed} --device {params.device} "
        "--threads {params.threads} 2> {log}"


rule curvature_summary:
    input:
        split=CURV_DATA,
        order=CLASS_ORDER,
        epochs=[f for e in CURV_ANALYSED for f in epoch_files(e)],
    output:
        summary=f"{CURV_OUT}/summary.csv",
        scores=f"{CURV_OUT}/per_image_scores.csv",
        detection=f"{CURV_OUT}/detection.csv",
    params:
        cmd=script("curvature/summary.py"),
        tasks=as_json({EPOCH_DIR.format(epoch=f"{e:04d}"): curvature_settings.trained_task(CURV, e)
                       for e in CURV_ANALYSED}),
        arrival=as_json([curvature_settings.arrival_task(CURV, i) for i in range(curvature_settings.n_classes(CURV))]),
    log:
        f"{CURV_LOGS}/summary.log",
    conda:
        ENV
    shell:
        "{params.cmd} --split {input.split} --order {input.order} --tasks {params.tasks:q} "
        "--arrival {params.arrival:q} --summary {output.summary} --scores {output.scores} "
        "--detection {output.detection} 2> {log}"


# ---------------------------------------------------------------- throughput

rule curvature_scaling_run:
    wildcard_constraints:
        nodes="1",
    input:
        checkpoint=curvature_checkpoint(CURV_LAST),
        split=CURV_DATA,
        order=CLASS_ORDER,
    output:
        C_SCALE_RUN,
    params:
        cmd=curvature_scaling_launch,
        data=as_json(CURV["data"]),
        model=as_json(CURV["model"]),
        analysis=analysis_json(),
        classes=task_classes(curvature_settings.trained_task(CURV, CURV_LAST)),
        min_seconds=C_SCALE["min_seconds"],
        seed=config["seed"],
        device=host_device(),
    threads: scaling_threads
    resources:
        gpu=scaling_gpus,
    log:
        f"{CURV_LOGS}/scaling/{{nodes}}n{{procs}}p_run{{run}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {params.data:q} --model {params.model:q} --analysis {params.analysis:q} "
        "--classes {params.classes} --split {input.split} --order {input.order} --checkpoint {input.checkpoint} "
        "--nodes {wildcards.nodes} --repeat {wildcards.run} --min-seconds {params.min_seconds} "
        "--seed {params.seed} --device {params.device} --threads 1 --out {output} 2> {log}"


use rule curvature_scaling_run as curvature_scaling_run_multinode with:
    wildcard_constraints:
        nodes=r"[2-9]|[1-9]\d+",
    resources:
        gpu=scaling_gpus,
        **node_resources(scaling_nodes),


rule curvature_scaling_table:
    input:
        curvature_scaling_runs(),
    output:
        table=f"{CURV_OUT}/scaling/scaling.csv",
    params:
        cmd=script("scaling_table.py"),
    log:
        f"{CURV_LOGS}/scaling/scaling_table.log",
    conda:
        ENV
    shell:
        "{params.cmd} --out {output.table} {input} 2> {log}"


# ---------------------------------------------------------------- figures and report section

localrules:
    curvature_figures,
    curvature_summary,


rule curvature_figures:
    input:
        summary=rules.curvature_summary.output.summary,
        scores=rules.curvature_summary.output.scores,
        epochs=[f for e in CURV_ANALYSED for f in epoch_files(e, ["per_image_curvature.npy", "per_image_index.npy"])],
    output:
        **figure_outputs(CURV_FIGURES, CURV_FIGURE_NAMES, "curvature", "Curvature"),
    params:
        cmd=script("curvature/figures.py"),
        data=as_json(CURV["data"]),
        top_k=CURV["report"]["top_k"],
        seed=config["seed"],
    log:
        f"{CURV_LOGS}/figures.log",
    conda:
        ENV
    shell:
        "{params.cmd} --data {params.data:q} --seed {params.seed} --summary {input.summary} "
        "--scores {input.scores} --top-k {params.top_k} --out {output} 2> {log}"


STUDY_TARGETS["curvature"] = [
    CLASS_ORDER,
    rules.curvature_summary.output.summary,
    rules.curvature_scaling_table.output.table,
]
REPORT_SECTIONS["curvature"] = {
    "summary": [rules.curvature_summary.output.summary],
    "scores": [rules.curvature_summary.output.scores],
    "detection": [rules.curvature_summary.output.detection],
    "training": [] if CURV_OWN else [f"{CURV_OUT}/training/task_{t}.csv" for t in range(CURV_TASKS)],
    "scaling": [rules.curvature_scaling_table.output.table],
    "figures": [f"{CURV_FIGURES}/{name}.png" for name in CURV_FIGURE_NAMES],
    "captions": [f"curvature/{name}.rst" for name in CURV_FIGURE_NAMES],  # in workflow/report/
}
RESULT_DEVICES.update({
    "curvature analysis": [rules.curvature_summary.output.summary],
    "curvature scaling": [rules.curvature_scaling_table.output.table],
})
