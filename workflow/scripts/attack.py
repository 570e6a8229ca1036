"""PGD attack of every sample at one eps, shared by all bound methods."""
import numpy as np

from tinyscale import cli, io
from tinyscale.verify import attack


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--eps", type=float, required=True)
    p.add_argument("--attack", type=cli.json_arg, required=True, help="steps, step_size (x eps), restarts")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    _, model, x, y = cli.model_and_samples(a)
    res = attack(model, x, y, a.eps, a.attack, a.seed, np.arange(len(x)), a.batch_size)
    cli.log.info("eps %g: %d of %d falsified", a.eps, int(res.falsified.sum()), len(x))
    io.write_npz(a.out, **res.save_arrays())


if __name__ == "__main__":
    cli.run(main)
