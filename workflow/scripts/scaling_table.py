"""Merge scaling runs into results/scaling/scaling.csv (the figure is the report's: rules/report.smk)."""
import pandas as pd

from tinyscale import cli, io
from tinyscale.scaling import COLUMNS, merge_runs, throughput_table


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("runs", nargs="+")
    a = p.parse_args()
    table = merge_runs([pd.read_csv(r) for r in a.runs])
    io.write_csv(a.out, table[COLUMNS + ["nodes", "procs_per_node", "world_size"]])
    for _, r in throughput_table(table).iterrows():
        cli.log.info("%s: %.1f samples/s, speed-up %.2f, efficiency %.0f%%", r["devices"], r["samples_per_s"],
                     r["speedup"], 100 * r["efficiency"])


if __name__ == "__main__":
    cli.run(main)
