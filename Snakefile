# tinyscale: every artefact of a research campaign is a file target.
# Config: config/config.yaml (embedded default); validated against
# workflow/schemas/config.schema.yaml before any job starts.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/robustness.smk"
include: "rules/scaling.smk"
include: "rules/report.smk"


# The whole campaign: the sweep, the scaling study and their report. The HTML
# report (`snakemake --report results/report/report.html`) shows this DAG's figures.
rule all:
    input:
        "results/robustness/sweep.csv",
        "results/scaling/scaling.csv",
        rules.reports.input,
    default_target: True
