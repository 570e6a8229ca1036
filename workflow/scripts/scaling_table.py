"""Merge scaling runs into results/<study>/scaling/scaling.csv (its figure is the study's).

Besides each run's row (the seed's columns, the layout, passes and samples/s),
every row carries its configuration's repeat spread: the lowest and highest
samples/s of its repeats and their relative spread (flagged in ``notes`` above 10%).
"""
import pandas as pd

from tinyscale import cli, io
from tinyscale.scaling import COLUMNS, EXTRA_COLUMNS, merge_runs, throughput_table


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("runs", nargs="+")
    a = p.parse_args()
    table = merge_runs([pd.read_csv(r) for r in a.runs])
    io.write_csv(a.out, table[COLUMNS + EXTRA_COLUMNS])
    for _, r in throughput_table(table).iterrows():
        cli.log.info("%s: %.1f samples/s (repeats %.1f-%.1f, spread %.1f%%), speed-up %.2f, efficiency %.0f%%",
                     r["devices"], r["samples_per_s"], r["repeat_min_samples_per_s"],
                     r["repeat_max_samples_per_s"], 100 * r["repeat_spread"], r["speedup"], 100 * r["efficiency"])


if __name__ == "__main__":
    cli.run(main)
