"""One scaling run of the reasoning study: an experiment's training steps timed on every rank.

Each process keeps the experiment's batch (the global batch is batch x world
size, lr x sqrt(world size): seed 002's rule) and trains through the core
loop (DDP under torchrun or srun), with no evaluation. After a few untimed
warm-up steps, ``--steps-per-pass`` steps are a pass; passes repeat until
``--min-seconds`` of wall time have passed on rank 0, every rank doing as many
(tinyscale.scaling.PassTimer). Rank 0 writes one row in the seed's scaling
schema: samples = training examples a pass (global batch x steps), throughput
= examples x passes / the slowest rank's time, memory = the largest peak of a
process (CUDA allocation on a GPU, resident set on the CPU).
"""
from dataclasses import replace
from pathlib import Path

import pandas as pd

from tinyscale import cli, dist, io, runtime
from tinyscale.reasoning import dataset
from tinyscale.reasoning.training import prepare
from tinyscale.scaling import TimedSteps, run_row
from tinyscale.train import DeviceLoop
from tinyscale.trainer import fit


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", required=True, help="the dataset folder (train/ and test/)")
    p.add_argument("--model", type=cli.json_arg, required=True, help="the experiment's model block (JSON)")
    p.add_argument("--training", type=cli.json_arg, required=True, help="its training block (JSON)")
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1, help="which repeat this is (the run number)")
    p.add_argument("--warmup-steps", type=int, default=2, choices=range(1, 1000), metavar="N", help="untimed steps first (allocation, DDP buckets)")
    p.add_argument("--steps-per-pass", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=0.0,
                   help="repeat passes until this much wall time has passed on rank 0 (0: one pass)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    splits = {name: dataset.load_split(Path(a.data) / name) for name in ("train", "test")}
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    loop = DeviceLoop(world.device, world)
    run = prepare(loop, splits, a.model, a.training, a.seed, "sqrt")
    stop = TimedSteps(world, a.warmup_steps, a.steps_per_pass, a.min_seconds)
    untimed = replace(run.settings, steps=10 ** 9, eval_every=10 ** 9)   # stop() ends it
    fit(run.task, run.core, loop, untimed, desc=f"time {run.name}", stop=stop)
    timer = stop.timer
    stats = world.gather((timer.seconds, runtime.peak_memory_mb(world.device), timer.passes,
                          stop.cpu_seconds()))
    if world.is_main:
        if len({s[2] for s in stats}) != 1:
            raise RuntimeError(f"ranks did different numbers of passes: {[s[2] for s in stats]}")
        procs = world.world_size // a.nodes
        examples = run.batch * a.steps_per_pass
        row = run_row(f"train {run.name}", a.nodes, procs, runtime.device_kind(world.device), run.batch,
                      examples, [s[0] for s in stats], [s[1] for s in stats], a.repeat, timer.passes,
                      [s[3] for s in stats])
        cli.log.info("%s: %d passes of %d examples in %.2f s, %.1f examples/s, peak memory %.0f MB a process",
                     row["devices"], timer.passes, examples, row["total_time_s"], row["samples_per_s"],
                     row["gpu_mem_mb"])
        io.write_csv(a.out, pd.DataFrame([row]))
    world.close()


if __name__ == "__main__":
    cli.run(main)
