"""Draw the reasoning study's report figures from its result files, each as <figure>.png and <figure>.svg.

  figures.py --experiments results/reasoning/experiments.csv
             --metrics results/reasoning/<experiment>/metrics.csv ...
             [--tn-grid EXPERIMENT ...] --out <figure>.png <figure>.svg ...

The figures are those --out names: accuracy_by_suite, learning_curves, params_vs_accuracy
and tn_heatmap. A metrics.csv belongs to the experiment its folder is named after, which
must be a row of experiments.csv (learning_curves draws one line per file given).
--tn-grid names the experiments of tn_heatmap's T x n grid; without it the grid holds those
that differ from the baseline in T and n alone.
"""

from tinyscale import cli
from tinyscale.reasoning import figures
from tinyscale.reasoning.report import load_experiments, load_metrics


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--experiments", required=True, help="results/reasoning/experiments.csv")
    p.add_argument("--metrics", nargs="+", default=[], help="each experiment's metrics.csv (learning_curves)")
    p.add_argument("--tn-grid", nargs="+", default=None, help="the experiments of the T x n grid (tn_heatmap)")
    p.add_argument("--out", nargs="+", required=True, help="<figure>.png and <figure>.svg of each figure to draw")
    a = p.parse_args()
    wanted = figures.outputs(p, a.out, figures.FIGURES)
    if "learning_curves" in wanted and not a.metrics:
        p.error("learning_curves needs --metrics (each experiment's metrics.csv)")
    table = load_experiments(a.experiments)
    histories = load_metrics(a.metrics, table)  # checked even where no figure draws them
    figures.theme()
    draw = {"accuracy_by_suite": lambda: figures.accuracy_by_suite(table),
            "learning_curves": lambda: figures.learning_curves(histories, table),
            "params_vs_accuracy": lambda: figures.params_vs_accuracy(table),
            "tn_heatmap": lambda: figures.tn_heatmap(table, a.tn_grid or figures.default_tn_grid(table))}
    figures.save_all(wanted, draw)

if __name__ == "__main__":
    cli.run(main)
