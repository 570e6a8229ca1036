"""Merge the SSVAE grid's metrics.json files into grid.csv (a row per point) and summary.csv
(mean, standard deviation and count over seeds per n_labels x corruption x alpha)."""
from tinyscale import cli, io
from tinyscale.ssvae.results import grid_table, summary_table


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--grid", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("runs", nargs="+", help="the points' metrics.json files")
    a = p.parse_args()
    grid = grid_table(a.runs)
    summary = summary_table(grid)
    io.write_csv(a.grid, grid)
    io.write_csv(a.summary, summary)
    for _, row in summary.iterrows():
        cli.log.info("n_labels %d, corruption %g, alpha %g: accuracy %.3f +- %.3f (%d seeds)", row["n_labels"],
                     row["corruption_rate"], row["alpha"], row["final_test_accuracy_mean"],
                     row["final_test_accuracy_std"], row["seeds"])


if __name__ == "__main__":
    cli.run(main)
