# tinyscale: every artefact of a research campaign is a file target.
# Config: config/config.yaml (embedded default); validated against
# workflow/schemas/config.schema.yaml before any job starts.
# A campaign is a set of studies: each has a block in the config (and the schema), a
# rules file, a package in src/tinyscale/ and a report section. A new study adds a line here.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/robustness.smk"
include: "rules/reasoning.smk"
include: "rules/curvature.smk"
include: "rules/ssvae.smk"
include: "rules/report.smk"


# The whole campaign: the targets of every study in config["studies"], and their report.
# The HTML report (`snakemake --report results/report/report.html`) shows their figures.
rule all:
    input:
        [path for targets in selected(STUDY_TARGETS).values() for path in targets],
        rules.reports.input,
    default_target: True
