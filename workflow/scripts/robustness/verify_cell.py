"""Verify one sweep cell (model, method, eps): one row per sample.

Runs as one process or sharded over ranks (torchrun, srun): each rank bounds
its share of the batches, rank 0 merges and writes the same rows.
"""

import pandas as pd

from tinyscale import cli, io, runtime
from tinyscale.errors import DataError
from tinyscale.robustness.checkpoint import model_and_samples
from tinyscale.robustness.verify import METHODS, AttackResult, Bounder, batches_of, bound_batches, plan_cell, samples_in


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--attack", required=True, help="the attack npz of this model and eps")
    p.add_argument("--crown-cell", default=None, help="the CROWN cell (alpha-CROWN reuses its certificates)")
    p.add_argument("--model-name", required=True)
    p.add_argument("--train-seed", type=int, required=True, help="the checkpoint's training seed")
    p.add_argument("--method", choices=sorted(METHODS), required=True)
    p.add_argument("--eps", type=float, required=True)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--timeout", type=float, default=60.0, help="per-sample budget in seconds")
    p.add_argument("--alpha", type=cli.json_arg, default={}, help="alpha-CROWN iterations and lr")
    p.add_argument("--config-name", default="default")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    world, model, x, y = model_and_samples(a)
    atk = load_attack(a.attack, len(x))
    crown = pd.read_csv(a.crown_cell) if a.crown_cell else None
    rows, todo = plan_cell(x, y, atk, crown)
    mine = world.shard(batches_of(todo, a.batch_size))
    if mine:
        bounder = Bounder(model, x.shape[1], a.method, a.alpha, world.device)
        bound_batches(bounder, x, y, a.eps, rows, mine, a.timeout)
    rows["peak_mem_mb"] = round(runtime.peak_memory_mb(world.device), 1)
    parts = world.gather((samples_in(mine), rows))
    if world.is_main:
        for done, part in parts[1:]:
            rows.loc[done] = part.loc[done]
        rows.insert(0, "model", a.model_name)
        rows.insert(1, "train_seed", a.train_seed)
        rows.insert(2, "method", METHODS[a.method][1])
        rows.insert(3, "epsilon", a.eps)
        rows["device"] = runtime.device_kind(world.device)
        rows["world_size"] = world.world_size
        rows["seed"] = a.seed
        rows["config"] = a.config_name
        cli.log.info("%s (%d processes)", rows["verdict"].value_counts().to_dict(), world.world_size)
        io.write_csv(a.out, rows)
    world.close()


def load_attack(path: str, n: int) -> AttackResult:
    """The attack npz of these ``n`` samples; a broken or stale one is a DataError naming it."""
    atk = AttackResult.from_npz(path)
    if len(atk.prediction) != n:
        raise DataError(f"{path}: {len(atk.prediction)} samples attacked but the samples file has {n} "
                        "(an attack of other samples); delete it and rerun")
    return atk


if __name__ == "__main__":
    cli.run(main)
