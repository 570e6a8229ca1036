"""PGD attack of every sample at one eps, shared by all bound methods."""
import numpy as np

from tinyscale import cli, data, io, runtime
from tinyscale.checkpoint import load_checkpoint
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
    runtime.set_threads(a.threads)
    device = runtime.pick_device(a.device)
    model = load_checkpoint(a.checkpoint, device)
    x, y, _ = data.load_samples(a.samples)
    res = attack(model, x.to(device), y.to(device), a.eps, a.attack, a.seed, np.arange(len(x)), a.batch_size)
    cli.log.info("eps %g: %d of %d falsified", a.eps, int(res.falsified.sum()), len(x))
    io.write_npz(a.out, **res.save_arrays())


if __name__ == "__main__":
    cli.run(main)
