"""Record where the results came from: results/report/provenance.json."""
import json
import os
from pathlib import Path

from tinyscale import cli, io
from tinyscale.report import provenance

REPO = Path(__file__).resolve().parents[2]  # the workflow's checkout, whose commit made the results


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--config", type=cli.json_arg, required=True, help="the resolved config (JSON)")
    p.add_argument("--config-files", type=cli.json_arg, required=True,
                   help="the run's config files and their sha256 (JSON: [{path, sha256}])")
    p.add_argument("--command", required=True, help="the command that rebuilds the report")
    p.add_argument("--results", type=cli.json_arg, required=True,
                   help="the studies' result files whose devices the record lists (JSON: {label: [paths]})")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    record = provenance.collect(a.config, a.config_files, REPO, a.command, a.results,
                                 executor=os.environ.get("TINYSCALE_EXECUTOR") or None)
    io.write_json(a.out, record)
    cli.log.info("commit %s, config sha256 %s", record["git"]["commit"][:12], record["config_sha256"][:12])
    cli.log.info("%s", json.dumps(record["devices"]["results"]))


if __name__ == "__main__":
    cli.run(main)
