"""One scaling run: a sweep cell's work (attack + bounds) timed on every rank.

Each rank attacks and bounds its share of the samples' batches. That work is
one pass; passes repeat (the same samples) until ``--min-seconds`` of wall
time have passed on rank 0, every rank doing as many (rank 0 decides after
each pass), so that a run times enough work for repeats to agree. Rank 0
writes one row in the seed's scaling schema plus ``passes``: throughput =
samples x passes / the slowest rank's time.
"""
import time

import numpy as np
import pandas as pd

from tinyscale import cli, io, runtime
from tinyscale.scaling import run_row, timed_passes
from tinyscale.robustness.checkpoint import model_and_samples
from tinyscale.robustness.verify import METHODS, Bounder, attack, batches_of, bound_batches, plan_cell, samples_in


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--method", choices=sorted(METHODS), required=True, nargs="+",
                   help="one or more methods, each bounding the samples the attack leaves")
    p.add_argument("--eps", type=float, required=True)
    p.add_argument("--attack", type=cli.json_arg, required=True)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--alpha", type=cli.json_arg, default={}, help="alpha-CROWN iterations and lr")
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1, help="which repeat this is (the run number)")
    p.add_argument("--min-seconds", type=float, default=0.0,
                   help="repeat the cell's work until this much wall time has passed on rank 0 "
                        "(0: one pass; the rules pass scaling.min_seconds)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    world, model, x, y = model_and_samples(a)
    bounders = [Bounder(model, x.shape[1], m, a.alpha, world.device) for m in a.method]
    mine = world.shard(batches_of(np.arange(len(x)), a.batch_size))
    pass_seconds = []

    def one_pass() -> None:
        t0 = time.perf_counter()
        atk = attack(model, x, y, a.eps, a.attack, a.seed, np.arange(len(x)), a.batch_size, mine)
        rows, todo = plan_cell(x, y, atk)
        todo = np.intersect1d(todo, samples_in(mine))
        for bounder in bounders:
            bound_batches(bounder, x, y, a.eps, rows, batches_of(todo, a.batch_size), None)
        pass_seconds.append(time.perf_counter() - t0)

    # warm-up, untimed: one sample through the attack and every bounder (alpha-CROWN's
    # first call imports torch's optimizer stack, seconds that are start-up, not work)
    first = [np.arange(1)]
    attack(model, x, y, a.eps, a.attack, a.seed, np.arange(len(x)), 1, first)
    for bounder in bounders:
        bounder.worst_margin_lower_bound(x[:1], y[:1], a.eps)
    world.barrier()  # time the work, not the start-up
    cpu0 = time.process_time()
    passes, seconds = timed_passes(one_pass, world, a.min_seconds)
    cpu = time.process_time() - cpu0
    stats = world.gather((seconds, runtime.peak_memory_mb(world.device), passes, pass_seconds, cpu))
    if world.is_main:
        if len({s[2] for s in stats}) != 1:
            raise RuntimeError(f"ranks did different numbers of passes: {[s[2] for s in stats]}")
        procs = world.world_size // a.nodes
        row = run_row("+".join(METHODS[m][1] for m in a.method), a.nodes, procs, runtime.device_kind(world.device),
                      a.batch_size, len(x), [s[0] for s in stats], [s[1] for s in stats], a.repeat, passes,
                      [s[4] for s in stats])
        for rank, (secs, _, _, each, cpu_s) in enumerate(stats):
            cli.log.info("rank %d: %.2f s (%.2f s CPU), passes of %s s", rank, secs, cpu_s,
                         " ".join(f"{t:.2f}" for t in each))
        cli.log.info("%s: %d passes of %d samples in %.2f s, %.1f samples/s", row["devices"], passes, len(x),
                     row["total_time_s"], row["samples_per_s"])
        io.write_csv(a.out, pd.DataFrame([row]))
    world.close()


if __name__ == "__main__":
    cli.run(main)
