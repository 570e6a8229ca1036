"""One scaling run of the curvature study: the per-image curvature of a saved epoch, timed on every rank.

Each rank scores its share of the epoch's images (whole batches, as the analysis
does); after one untimed batch, a pass is the whole share, and passes repeat until
``--min-seconds`` of wall time have passed on rank 0, every rank doing as many
(tinyscale.scaling.timed_passes). Rank 0 writes one row in the seed's scaling schema:
samples = images a pass (over all ranks), throughput = images x passes / the slowest
rank's time.
"""
import time

import numpy as np
import pandas as pd
import torch

from tinyscale import cli, dist, io, runtime
from tinyscale.curvature.measure import Probe, curvature_batch
from tinyscale.curvature.models import build_model
from tinyscale.curvature.training import load_study_data, load_weights
from tinyscale.scaling import run_row, timed_passes


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", type=cli.json_arg, required=True, help="the curvature.data block (JSON)")
    p.add_argument("--model", type=cli.json_arg, required=True, help="the curvature.model block (JSON)")
    p.add_argument("--analysis", type=cli.json_arg, required=True, help="the curvature.analysis block (JSON)")
    p.add_argument("--classes", type=int, required=True, help="the class order's first classes are scored")
    p.add_argument("--split", required=True)
    p.add_argument("--order", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--min-seconds", type=float, default=0.0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    data = load_study_data(a.data, a.seed, a.split, a.order)
    net = load_weights(a.checkpoint, build_model(a.model, data.images.shape[1], data.n_classes))
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    net = net.to(world.device).eval()
    an = a.analysis
    probe = Probe(h=an["h"], niter=an["niter"], seed=an["probe_seed"], form=an["form"],
                  seed_compatible=an["seed_compatible"])
    active = data.class_order[:a.classes]
    index = data.of_classes(data.train_index, active)
    active = torch.as_tensor(active, device=world.device)
    batch = an["batch_size"]
    mine = world.shard([index[s:s + batch] for s in range(0, len(index), batch)])

    def one_pass() -> None:
        for idx in mine:
            curvature_batch(net, data.images[idx].to(world.device),
                            torch.as_tensor(data.labels[idx], device=world.device), torch.as_tensor(idx), active, probe)

    curvature_batch(net, data.images[mine[0]].to(world.device),     # untimed: allocation, first-call work
                    torch.as_tensor(data.labels[mine[0]], device=world.device), torch.as_tensor(mine[0]), active, probe)
    world.barrier()
    cpu = time.process_time()
    passes, seconds = timed_passes(one_pass, world, a.min_seconds)
    stats = world.gather((seconds, runtime.peak_memory_mb(world.device), time.process_time() - cpu))
    if world.is_main:
        procs = world.world_size // a.nodes
        row = run_row("curvature", a.nodes, procs, runtime.device_kind(world.device), batch, len(index),
                      [s[0] for s in stats], [s[1] for s in stats], a.repeat, passes, [s[2] for s in stats])
        cli.log.info("%s: %d passes of %d images in %.2f s, %.1f images/s", row["devices"], passes,
                     len(index), row["total_time_s"], row["samples_per_s"])
        io.write_csv(a.out, pd.DataFrame([row]))
    world.close()


if __name__ == "__main__":
    cli.run(main)
