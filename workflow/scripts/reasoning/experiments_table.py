"""Merge experiments' eval.json files into one table (results/reasoning/experiments.csv, or a
suite's results/reasoning/suites/<suite>.csv): a row per experiment, in --table's order, with
its resolved settings, parameters, steps, wall time, device, test accuracies of the evaluated
(EMA) weights, the copy-the-givens baseline, training FLOPs per exact-accuracy point and any
published reference value (tinyscale.reasoning.results.COLUMNS)."""
from tinyscale import cli, io
from tinyscale.reasoning.results import experiments_table


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--table", type=cli.json_arg, required=True,
                   help="[{experiment, suites: [...], leads: [...], baseline: bool, reference: {exact_acc, source} | null}, ...] "
                        "in the rows' order (JSON)")
    p.add_argument("--out", required=True)
    p.add_argument("evals", nargs="+", help="the experiments' eval.json files")
    a = p.parse_args()
    table = experiments_table(a.evals, a.table)
    io.write_csv(a.out, table)
    for _, r in table.iterrows():
        cli.log.info("%s%s: exact %.1f%%, token %.1f%%, %d parameters, %d steps, %.0f s",
                     r["experiment"], " (baseline)" if r["baseline"] else "", 100 * r["exact_acc"],
                     100 * r["token_acc"], r["parameters"], r["steps"], r["train_seconds"])


if __name__ == "__main__":
    cli.run(main)
