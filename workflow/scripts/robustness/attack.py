"""PGD attack of every sample at one eps, shared by all bound methods.

Runs as one process or sharded over ranks (torchrun, srun): rank 0 writes.
"""
import numpy as np

from tinyscale import cli, io
from tinyscale.robustness.checkpoint import model_and_samples
from tinyscale.robustness.verify import AttackResult, attack, batches_of, samples_in


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--eps", type=float, required=True)
    p.add_argument("--attack", type=cli.json_arg, required=True, help="steps, step_size (x eps), restarts")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    world, model, x, y = model_and_samples(a)
    mine = world.shard(batches_of(np.arange(len(x)), a.batch_size))
    res = attack(model, x, y, a.eps, a.attack, a.seed, np.arange(len(x)), a.batch_size, mine)
    parts = world.gather((samples_in(mine), res))
    if world.is_main:
        res = AttackResult.merge(parts)
        cli.log.info("eps %g: %d of %d falsified (%d processes)", a.eps, int(res.falsified.sum()),
                     len(x), world.world_size)
        io.write_npz(a.out, **res.save_arrays())
    world.close()


if __name__ == "__main__":
    cli.run(main)
