# The campaign report: a PDF and a slide deck with a section per study in
# config["studies"], each built only from the result files its rules file registers
# (REPORT_SECTIONS), and the provenance of them all. `snakemake reports` builds them;
# `snakemake --report results/report/report.html` shows the studies' figures.
localrules:
    provenance,
    report_pdf,
    slides,
    reports,


def section_files(wildcards=None):
    """Every result file the selected studies' sections read (captions are the workflow's, not results)."""
    return [path for inputs in selected(REPORT_SECTIONS).values()
            for name, paths in inputs.items() if name != "captions" for path in paths]


def sections_param():
    """The sections' files by study and name, for the report script (JSON). Captions are
    named relative to workflow/report/ and found there through $TINYSCALE_ROOT."""
    return as_json(selected(REPORT_SECTIONS))


def section_captions():
    return [path for inputs in selected(REPORT_SECTIONS).values() for path in inputs.get("captions", [])]


def device_files():
    studies = set(config["studies"])
    return {label: paths for label, paths in RESULT_DEVICES.items() if label.split()[0] in studies}


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
