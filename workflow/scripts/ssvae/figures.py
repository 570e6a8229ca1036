"""Draw the SSVAE study's report figures from its result files, each as <figure>.png and <figure>.svg.

  figures.py --grid results/ssvae/grid.csv --summary results/ssvae/summary.csv
             --out <figure>.png <figure>.svg ...

The figures are those --out names: accuracy_vs_labels, accuracy_vs_corruption and
disentanglement. summary.csv must be grid.csv's summary (checked: the same configurations,
seed counts and mean accuracies).
"""

from tinyscale import cli
from tinyscale.ssvae import figures
from tinyscale.ssvae.report import load_tables


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--grid", required=True, help="results/ssvae/grid.csv")
    p.add_argument("--summary", required=True, help="results/ssvae/summary.csv")
    p.add_argument("--out", nargs="+", required=True, help="<figure>.png and <figure>.svg of each figure to draw")
    a = p.parse_args()
    wanted = figures.outputs(p, a.out, figures.FIGURE_NAMES)
    _, summary = load_tables(a.grid, a.summary)
    figures.theme()
    figures.save_all(wanted, {name: (lambda draw=draw: draw(summary)) for name, draw in figures.DRAW.items()})


if __name__ == "__main__":
    cli.run(main)
