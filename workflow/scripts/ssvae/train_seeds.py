"""Train the seeds of one SSVAE grid point together in one process and write each seed's
metrics.json (ssvae.training.stack_seeds: torch.func.vmap over their stacked weights).

Each seed's record is the one a lone run of it would write (its labelled set, initialisation,
batches and noise), up to float rounding (tinyscale.ssvae.stacked); ``stacked_seeds`` says it
was trained in a stack, and ``seconds`` is the stack's time. The stack's training state is
saved under --state-dir; a rerun after a kill resumes from the last saved step.
"""
import shutil

from tinyscale import cli, dist, io, runtime
from tinyscale.ssvae.data import load
from tinyscale.ssvae.run import add_point_arguments, point_of
from tinyscale.ssvae.stacked import train_stacked


def main() -> None:
    p = cli.parser(__doc__)
    add_point_arguments(p)
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--out", nargs="+", required=True, help="a metrics.json per seed, in --seeds' order")
    p.add_argument("--state-dir", required=True)
    a = p.parse_args()
    if len(a.out) != len(a.seeds):
        p.error("--out needs a file per seed")
    for seed in a.seeds:
        point_of(a, seed)
    data = load(a.block["data"])
    runtime.set_threads(a.threads)
    device = dist.init(a.device).device        # one process: the stack is the parallelism
    records = train_stacked(data.to(device), a.block, a.n_labels, a.corruption, a.alpha, a.seeds, device,
                            a.state_dir)
    for path, record in zip(a.out, records):
        io.write_json(path, record)
        cli.log.info("seed %d: test accuracy %.4f, test ELBO %.2f", record["seed"], record["final_test_accuracy"],
                     record["final_test_elbo"])
    cli.log.info("%d seeds in %.1f s", len(records), records[0]["seconds"])
    shutil.rmtree(a.state_dir, ignore_errors=True)          # the point is done: its saved state goes


if __name__ == "__main__":
    cli.run(main)
