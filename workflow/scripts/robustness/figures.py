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
from pathlib import Path

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
    paths = {(p.stem, p.suffix): p for p in map(Path, a.out)}
    names = list(dict.fromkeys(stem for stem, _ in paths))
    unknown = sorted(set(names) - GROUPS[a.group])
    if unknown:
        p.error(f"the {a.group} group draws no figure named {', '.join(unknown)}")
    figures.theme()

    def colours(table):
        """The config's models first (their colours do not depend on the results), then any others."""
        return figures.model_colours(a.models + sorted(set(table["model"]) - set(a.models)))

    if a.group == "sweep":
        sweep = results.load_sweep(a.sweep)
        drawn = {name: getattr(figures, name)(sweep, colours(sweep)) for name in names}
    elif a.group == "training":
        histories = results.load_histories(a.histories)
        drawn = {"training_curves": figures.training_curves(histories, results.load_checkpoints(a.metrics),
                                                            colours(histories))}
    elif a.group == "convergence":
        table = results.convergence(results.load_cells(a.cells))
        drawn = {"convergence": figures.convergence(table, colours(table))}
    else:
        drawn = {"scaling": figures.scaling(results.load_scaling(a.scaling)[1])}
    missing = [f"{n}{s}" for n in drawn for s in (".png", ".svg") if (n, s) not in paths]
    if missing:
        p.error(f"--out lacks {', '.join(missing)}")
    for name, fig in drawn.items():
        png, svg = paths[name, ".png"], paths[name, ".svg"]
        figures.save(fig, png, svg)
        cli.log.info("wrote %s and %s", png, svg)


if __name__ == "__main__":
    cli.run(main)
