"""One scaling run of the curvature study: the per-image curvature of a saved epoch, timed on every rank.

Each rank scores its share of the epoch's images (whole batches, as the analysis
does); after one untimed batch, a pass is the whole share, and passes repeat until
``--min-seconds`` of wall time have passed on rank 0, every rank doing as many
(tinyscale.scaling.timed_passes). Rank 0 writes one row in the seed's scaling schema:
samples = images a pass (over all ranks), throughput = images x passes / the slowest
rank's time.
"""
import time

import pandas as pd

from tinyscale import cli, io, runtime
from tinyscale.curvature import analysis
from tinyscale.scaling import run_row, timed_passes


def main() -> None:
    p = cli.parser(__doc__)
    analysis.add_arguments(p)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--min-seconds", type=float, default=0.0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    run = analysis.prepare(a)
    world = run.world

    def one_pass() -> None:
        for b in run.mine:
            run.compute(b)

    run.compute(run.mine[0])     # untimed: allocation, first-call work
    world.barrier()
    cpu = time.process_time()
    passes, seconds = timed_passes(one_pass, world, a.min_seconds)
    stats = world.gather((seconds, runtime.peak_memory_mb(world.device), time.process_time() - cpu))
    if world.is_main:
        procs = world.world_size // a.nodes
        row = run_row("curvature", a.nodes, procs, runtime.device_kind(world.device), a.analysis["batch_size"],
                      len(run.index), [s[0] for s in stats], [s[1] for s in stats], a.repeat, passes,
                      [s[2] for s in stats])
        cli.log.info("%s: %d passes of %d images in %.2f s, %.1f images/s", row["devices"], passes,
                     len(run.index), row["total_time_s"], row["samples_per_s"])
        io.write_csv(a.out, pd.DataFrame([row]))
    world.close()


if __name__ == "__main__":
    cli.run(main)
