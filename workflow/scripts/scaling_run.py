"""One scaling run: a sweep cell's work (attack + bounds) timed on every rank.

Each rank attacks and bounds its share of the samples' batches; rank 0 writes
one row in the seed's scaling schema (throughput = samples / slowest rank).
"""
import time

import numpy as np
import pandas as pd

from tinyscale import cli, io, runtime
from tinyscale.scaling import run_row
from tinyscale.verify import METHODS, Bounder, attack, batches_of, bound_batches, plan_cell, samples_in


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--method", choices=sorted(METHODS), required=True, nargs="+",
                   help="one or more methods, each bounding the samples the attack leaves")
    p.add_argument("--eps", type=float, required=True)
    p.add_argument("--attack", type=cli.json_arg, required=True)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1, help="which repeat this is (the run number)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    world, model, x, y = cli.model_and_samples(a)
    bounders = [Bounder(model, x.shape[1], m, None, world.device) for m in a.method]
    world.barrier()  # time the work, not the start-up
    t0 = time.perf_counter()
    mine = world.shard(batches_of(np.arange(len(x)), a.batch_size))
    atk = attack(model, x, y, a.eps, a.attack, a.seed, np.arange(len(x)), a.batch_size, mine)
    rows, todo = plan_cell(x, y, atk)
    todo = np.intersect1d(todo, samples_in(mine))
    for bounder in bounders:
        bound_batches(bounder, x, y, a.eps, rows, batches_of(todo, a.batch_size), None)
    seconds = time.perf_counter() - t0
    stats = world.gather((seconds, runtime.peak_memory_mb(world.device)))
    if world.is_main:
        procs = world.world_size // a.nodes
        row = run_row("+".join(METHODS[m][1] for m in a.method), a.nodes, procs, runtime.device_kind(world.device), a.batch_size,
                      len(x), [s for s, _ in stats], [m for _, m in stats], a.repeat)
        cli.log.info("%s: %.2f s, %.1f samples/s", row["devices"], row["total_time_s"], len(x) / row["total_time_s"])
        io.write_csv(a.out, pd.DataFrame([row]))
    world.close()


if __name__ == "__main__":
    cli.run(main)
