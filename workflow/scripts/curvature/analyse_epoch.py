"""The per-image curvature of one saved epoch, over the classes its checkpoint was trained on.

Scores every training image whose label is active (--classes), sharded over the ranks
(torchrun, or srun across nodes) by whole batches, so that each value is computed the
same way whatever the number of processes; rank 0 writes, in image order:
per_image_curvature.npy, per_image_directional_eig.npy, per_image_labels.npy,
per_image_index.npy (positions in the dataset's training set), per_image_loss.npy
(the clean per-sample loss, for the cumulative sample loss) and metadata.json.
"""
import time
from pathlib import Path

import numpy as np

from tinyscale import cli, io, runtime
from tinyscale.curvature import analysis
from tinyscale.curvature.results import ARRAYS
from tinyscale.progress import progress


def main() -> None:
    p = cli.parser(__doc__)
    analysis.add_arguments(p)
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--out", required=True, help="the epoch's folder")
    a = p.parse_args()
    run = analysis.prepare(a)
    world, data, index = run.world, run.data, run.index
    a.active = run.active

    world.barrier()
    start = time.perf_counter()
    parts = {}
    for b in progress(run.mine, f"epoch {a.epoch} curvature", total=len(run.mine)):
        parts[b] = run.compute(b)
    seconds = time.perf_counter() - start
    gathered = world.gather((parts, seconds))
    if world.is_main:
        merged = {}
        for rank_parts, _ in gathered:
            merged.update(rank_parts)
        values = {k: np.concatenate([merged[b][k] for b in range(len(run.batches))]) if run.batches else np.zeros(0)
                  for k in ("curvature", "directional_eig", "loss")}
        values.update(labels=data.labels[index], index=index)
        seconds = max(s for _, s in gathered)
        write(Path(a.out), values, metadata(a, data, index, values, seconds, world))
        c = values["curvature"]
        cli.log.info("epoch %d: %d images of %d classes, curvature mean %.4g (max %.4g), %.1f images/s on %d %s",
                     a.epoch, len(index), len(a.active), c.mean() if len(c) else float("nan"),
                     c.max() if len(c) else float("nan"), len(index) / seconds, world.world_size,
                     runtime.device_kind(world.device))
    world.close()


def metadata(a, data, index, values, seconds, world) -> dict:
    an, c = a.analysis, values["curvature"]
    stats = {k: float(f(c)) if len(c) else None for k, f in
             (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))}
    kind = runtime.device_kind(world.device)
    return {
        # the seed's fields
        "epoch": a.epoch, "total_samples": int(len(index)),
        "num_gpus": world.world_size if world.device.type == "cuda" else 0,
        "compute_time_seconds": seconds, "allowed_classes": [int(c) for c in a.active],
        "curvature_stats": stats,
        # and what makes a value reproducible
        "h": an["h"], "niter": an["niter"], "probe_seed": an["probe_seed"], "curvature_form": an["form"],
        "loss_form": ("seed: batch-mean cross entropy over all logits" if an["seed_compatible"]
                      else "per-sample cross entropy over the active classes' logits"),
        "batch_size": an["batch_size"], "device": kind, "world_size": world.world_size,
        "images_per_s": len(index) / seconds if seconds else None,
        "mislabelled": int(data.mislabelled[index].sum()), "checkpoint": a.checkpoint,
    }


def write(out: Path, values: dict, meta: dict) -> None:
    for key, name in ARRAYS.items():
        with io.atomic_path(out / name) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, values[key])
    io.write_json(out / "metadata.json", meta)


if __name__ == "__main__":
    cli.run(main)
