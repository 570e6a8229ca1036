"""Draw one group of report figures from result files, each as <figure>.png and <figure>.svg.

  figures.py sweep --sweep results/robustness/sweep.csv --models M ... --out <figure>.png <figure>.svg ...
  figures.py training --metrics <model>__seed<s>.json ... --histories <model>__seed<s>_history.csv ...
             --models M ... --out ...
  figures.py convergence --cells <model>__seed<s>__<method>__eps<eps>.csv ... --models M ... --out ...
  figures.py scaling --scaling results/robustness/scaling/scaling.csv --out ...

--metrics, --histories and --cells take the files of every (model, training seed); the
seeds come from the files (the JSON's ``seed``, the ``__seed<s>`` of a file name, the
cells' ``train_seed``). --models gives the colours (a model's place in the list).
"""

from tinyscale import cli
from tinyscale.robustness.report import figures, results

# the figures each group may draw (the rules file names those it wants with --out)
GROUPS = {"sweep": {"verified_vs_eps", "time_vs_eps", "memory_vs_eps", "verified_heatmap", "verdicts"},
          "training": {"training_curves"}, "convergence": {"convergence"}, "scaling": {"scaling"}}


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("group", choices=sorted(GROUPS))
    p.add_argument("--models", nargs="+", default=[], help="the config's models, in order (fixes their colours)")
    p.add_argument("--out", nargs="+", required=True, help="the group's <figure>.png and <figure>.svg paths")
    p.add_argument("--sweep")
    p.add_argument("--metrics", nargs="+")
    p.add_argument("--histories", nargs="+")
    p.add_argument("--cells", nargs="+")
    p.add_argument("--scaling")
    a = p.parse_args()
    wanted = figures.outputs(p, a.out, sorted(GROUPS[a.group]))
    figures.theme()

    def colours(table):
        """The config's models first (their colours do not depend on the results), then any others."""
        return figures.model_colours(a.models + sorted(set(table["model"]) - set(a.models)))

    if a.group == "sweep":
        sweep = results.load_sweep(a.sweep)
        draw = {name: (lambda name=name: getattr(figures, name)(sweep, colours(sweep))) for name in wanted}
    elif a.group == "training":
        histories = results.load_histories(a.histories)
        checkpoints = results.load_checkpoints(a.metrics)
        draw = {"training_curves": lambda: figures.training_curves(histories, checkpoints, colours(histories))}
    elif a.group == "convergence":
        table = results.convergence(results.load_cells(a.cells))
        draw = {"convergence": lambda: figures.convergence(table, colours(table))}
    else:
        scaling = results.load_scaling(a.scaling)[1]
        draw = {"scaling": lambda: figures.scaling(scaling)}
    figures.save_all(wanted, draw)


if __name__ == "__main__":
    cli.run(main)
