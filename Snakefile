# tinyscale: every artefact of a research campaign is a file target.
# Config: config/config.yaml (embedded default); validated against
# workflow/schemas/config.schema.yaml before any job starts.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/robustness.smk"
include: "rules/scaling.smk"


rule all:
    input:
        "results/robustness/sweep.csv",
        "results/scaling/scaling.csv",
    default_target: True
