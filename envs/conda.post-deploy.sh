#!/usr/bin/env bash
# Run by Snakemake after it creates envs/conda.yaml's environment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pip install --no-deps -r "$here/auto_lirpa.txt"
pip install --no-deps -e "$here/.."
