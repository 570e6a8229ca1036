# Reports: figures, a PDF and a slide deck, built only from result files.
#   `snakemake reports` builds them all; each figure rule reads only the results it draws,
#   so a changed result rebuilds just the figures, the PDF and the deck that show it.
#   Captions (workflow/report/*.rst) also caption `snakemake --report results/report/report.html`.
localrules:
    sweep_figures,
    training_figures,
    convergence_figure,
    scaling_figure,
    provenance,
    report_pdf,
    slides,
    reports,


rule sweep_figures:
    input:
        sweep=rules.merge_sweep.output[0],
    output:
        **figure_outputs("sweep", "Robustness"),
    params:
        cmd=script("figures.py"),
        models=MODELS,
    log:
        f"{LOGS}/report/sweep_figures.log",
    conda:
        ENV
    shell:
        "{params.cmd} sweep --sweep {input.sweep} --models {params.models} --out {output} 2> {log}"


rule training_figures:
    input:
        metrics=checkpoints(".json"),
        histories=checkpoints("_history.csv"),
    output:
        **figure_outputs("training", "Training"),
    params:
        cmd=script("figures.py"),
        models=MODELS,
    log:
        f"{LOGS}/report/training_figures.log",
    conda:
        ENV
    shell:
        "{params.cmd} training --metrics {input.metrics} --histories {input.histories} "
        "--models {params.models} --out {output} 2> {log}"


rule convergence_figure:
    input:
        cells=sweep_cells(),
    output:
        **figure_outputs("convergence", "Robustness"),
    params:
        cmd=script("figures.py"),
        models=MODELS,
    log:
        f"{LOGS}/report/convergence_figure.log",
    conda:
        ENV
    shell:
        "{params.cmd} convergence --cells {input.cells} --models {params.models} --out {output} 2> {log}"


rule scaling_figure:
    input:
        scaling=rules.scaling_table.output.table,
    output:
        **figure_outputs("scaling", "Scaling"),
    params:
        cmd=script("figures.py"),
    log:
        f"{LOGS}/report/scaling_figure.log",
    conda:
        ENV
    shell:
        "{params.cmd} scaling --scaling {input.scaling} --out {output} 2> {log}"


rule provenance:
    input:
        metrics=checkpoints(".json"),
        cells=sweep_cells(),
        scaling=rules.scaling_table.output.table,
    output:
        "results/report/provenance.json",
    params:
        cmd=script("provenance.py"),
        config=as_json(config),
        config_files=config_files(),
        command=report_command(),
    log:
        f"{LOGS}/report/provenance.log",
    conda:
        ENV
    shell:
        "{params.cmd} --config {params.config:q} --config-files {params.config_files:q} "
        "--command {params.command:q} --metrics {input.metrics} --cells {input.cells} "
        "--scaling {input.scaling} --out {output} 2> {log}"


rule report_pdf:
    input:
        sweep=rules.merge_sweep.output[0],
        metrics=checkpoints(".json"),
        scaling=rules.scaling_table.output.table,
        provenance=rules.provenance.output[0],
        figures=report_figures(),
    output:
        "results/report/report.pdf",
    params:
        cmd=script("report.py"),
        captions=report_captions(),
        captions_sha256=captions_sha256(),
    log:
        f"{LOGS}/report/report_pdf.log",
    conda:
        ENV
    shell:
        "{params.cmd} pdf --sweep {input.sweep} --metrics {input.metrics} --scaling {input.scaling} "
        "--provenance {input.provenance} --figures {input.figures} --captions {params.captions} "
        "--out {output} 2> {log}"


rule slides:
    input:
        sweep=rules.merge_sweep.output[0],
        metrics=checkpoints(".json"),
        scaling=rules.scaling_table.output.table,
        provenance=rules.provenance.output[0],
        figures=[rules.sweep_figures.output.verified_vs_eps, rules.scaling_figure.output.scaling],
    output:
        "results/report/slides.pptx",
    params:
        cmd=script("report.py"),
    log:
        f"{LOGS}/report/slides.log",
    conda:
        ENV
    shell:
        "{params.cmd} slides --sweep {input.sweep} --metrics {input.metrics} --scaling {input.scaling} "
        "--provenance {input.provenance} --figures {input.figures} --out {output} 2> {log}"


rule reports:
    input:
        rules.report_pdf.output,
        rules.slides.output,
        report_figures(),
