"""One scaling run of the SSVAE study: a grid point's training steps timed on every rank.

The point trains through the core loop (DDP under torchrun or srun; the global batch is the
configured one, split over the ranks) with no evaluation. After a few untimed warm-up steps,
--steps-per-pass steps are a pass; passes repeat until --min-seconds of wall time have passed
on rank 0, every rank doing as many (tinyscale.scaling.PassTimer). Rank 0 writes one row in
the seed's scaling schema: samples = training images a pass (global batch x steps),
throughput = images x passes / the slowest rank's time.
"""
from dataclasses import replace

import pandas as pd

from tinyscale import cli, dist, io, runtime
from tinyscale.scaling import TimedSteps, run_row
from tinyscale.ssvae.data import load
from tinyscale.ssvae.run import add_point_arguments, init_model, labelled_for
from tinyscale.ssvae.training import PointTraining, settings
from tinyscale.train import DeviceLoop
from tinyscale.trainer import fit


def main() -> None:
    p = cli.parser(__doc__)
    add_point_arguments(p)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1, help="which repeat this is (the run number)")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--steps-per-pass", type=int, default=5)
    p.add_argument("--min-seconds", type=float, default=0.0,
                   help="repeat passes until this much wall time has passed on rank 0 (0: one pass)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    data = load(a.block["data"])
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    loop = DeviceLoop(world.device, world)
    data = data.to(world.device)
    b = a.block
    labelled = labelled_for(data, a.n_labels, a.corruption, a.seed)
    task = PointTraining(data, labelled, b["training"], b["model"], a.alpha, a.corruption, a.seed,
                         loop.rank, loop.world_size)
    stop = TimedSteps(world, a.warmup_steps, a.steps_per_pass, a.min_seconds)
    untimed = replace(settings(b["training"], task.steps_per_epoch), steps=10 ** 9, eval_every=10 ** 9)
    fit(task, init_model(b["model"], data, a.seed), loop, untimed, desc="time ssvae", stop=stop)
    timer = stop.timer
    stats = world.gather((timer.seconds, runtime.peak_memory_mb(world.device), timer.passes,
                          stop.cpu_seconds()))
    if world.is_main:
        procs = world.world_size // a.nodes
        batch = b["training"]["batch_size"]
        images = batch * a.steps_per_pass
        row = run_row("train ssvae", a.nodes, procs, runtime.device_kind(world.device), batch, images,
                      [s[0] for s in stats], [s[1] for s in stats], a.repeat, timer.passes, [s[3] for s in stats])
        cli.log.info("%s: %d passes of %d images in %.2f s, %.1f images/s", row["devices"], timer.passes,
                     images, row["total_time_s"], row["samples_per_s"])
        io.write_csv(a.out, pd.DataFrame([row]))
    world.close()


if __name__ == "__main__":
    cli.run(main)
