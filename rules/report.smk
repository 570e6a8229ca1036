# The campaign report: a PDF and a slide deck with a section per study in
# config["studies"], each built only from the result files its rules file registers
# (REPORT_SECTIONS), and the provenance of them all. `snakemake reports` builds them;
# `snakemake --report results/report/report.html` shows the studies' figures.
localrules:
    provenance,
    report_pdf,
    slides,
    reports,


rule provenance:
    input:
        [path for paths in device_files().values() for path in paths],
    output:
        "results/report/provenance.json",
    params:
        cmd=script("provenance.py"),
        config=as_json(config),
        config_files=config_files(),
        command=report_command(),
        results=as_json(device_files()),
    log:
        f"{LOGS}/report/provenance.log",
    conda:
        ENV
    shell:
        "{params.cmd} --config {params.config:q} --config-files {params.config_files:q} "
        "--command {params.command:q} --results {params.results:q} --out {output} 2> {log}"


REPORT_COMMAND = ("{params.cmd} {params.kind} --sections {params.sections:q} --workflow-dir {params.workflow_dir} "
                  "--provenance {input.provenance} --out {output} 2> {log}")


rule report_pdf:
    input:
        section_files(),
        provenance=rules.provenance.output[0],
    output:
        "results/report/report.pdf",
    params:
        cmd=script("report.py"),
        kind="pdf",
        sections=sections_param(),
        captions_sha256=captions_sha256(section_captions()),
        workflow_dir=in_checkout("workflow"),
    log:
        f"{LOGS}/report/report_pdf.log",
    conda:
        ENV
    shell:
        REPORT_COMMAND


rule slides:
    input:
        section_files(),
        provenance=rules.provenance.output[0],
    output:
        "results/report/slides.pptx",
    params:
        cmd=script("report.py"),
        kind="slides",
        sections=sections_param(),
        workflow_dir=in_checkout("workflow"),
    log:
        f"{LOGS}/report/slides.log",
    conda:
        ENV
    shell:
        REPORT_COMMAND


rule reports:
    input:
        rules.report_pdf.output,
        rules.slides.output,
