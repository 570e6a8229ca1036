"""Merge sweep cells into one table in the seed's schema (plus the other verdicts)."""
import pandas as pd

from tinyscale import cli, io
from tinyscale.robustness.verify import METHOD_ORDER, summarize

COLUMNS = ["model", "epsilon", "verified", "falsified", "total", "avg_time_s", "avg_mem_MB", "bound",
           "unknown", "timeout", "misclassified", "train_seed"]


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("cells", nargs="+")
    a = p.parse_args()
    rows = []
    for path in a.cells:
        cell = pd.read_csv(path)
        rows.append({"model": cell["model"].iat[0], "train_seed": cell["train_seed"].iat[0],
                     "epsilon": cell["epsilon"].iat[0],
                     "bound": cell["method"].iat[0], "avg_mem_MB": cell["peak_mem_mb"].max(),
                     **summarize(cell)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table = table.sort_values(["model", "train_seed", "bound", "epsilon"], key=lambda col: (
        col.map(METHOD_ORDER.index) if col.name == "bound" else col), kind="stable")
    table["avg_time_s"] = table["avg_time_s"].round(5)
    io.write_csv(a.out, table)
    cli.log.info("%d cells merged into %s", len(table), a.out)


if __name__ == "__main__":
    cli.run(main)
