"""Train one TRM-MLP checkpoint (standard or PGD-adversarial).

``--device xla`` trains on the XLA device(s) (TPU; the CPU under
PJRT_DEVICE=CPU), one process per device started by ``torch_xla.launch``;
it needs the .venv-tpu environment (``make tpu-setup``).
"""
import pandas as pd

from tinyscale import cli, dist, io, runtime
from tinyscale.errors import ConfigError
from tinyscale.robustness import data
from tinyscale.robustness.checkpoint import save_checkpoint
from tinyscale.robustness.training import train


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--model-config", type=cli.json_arg, required=True)
    p.add_argument("--recipe", type=cli.json_arg, required=True)
    p.add_argument("--eval-attack", type=cli.json_arg, required=True)
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--scaling", choices=["off", "sqrt"], default="off",
                   help="sqrt: global batch x world size, lr x sqrt(world size) (seed 002)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--history", required=True)
    a = p.parse_args()
    if a.device == "xla":
        try:
            from tinyscale import xla  # torch_xla: only in .venv-tpu
        except ImportError as err:
            raise ConfigError(f"device 'xla' needs torch_xla ({err}): set it up with `make tpu-setup` "
                              "and run this script with .venv-tpu/bin/python") from err
        xla.launch(train_on_xla, a, seed=a.seed, threads=a.threads)
        return
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    ds = data.load(a.data)
    result = train(ds, a.model_config, a.recipe, a.eval_attack, a.seed, world.device,
                   a.validation_fraction, world, a.scaling)
    if world.is_main:
        write(a, ds, result, runtime.device_kind(world.device))
    world.close()


def train_on_xla(loop, a) -> None:
    """One XLA replica (a process of its own); the main one writes the outputs."""
    ds = data.load(a.data)
    result = train(ds, a.model_config, a.recipe, a.eval_attack, a.seed, loop.device,
                   a.validation_fraction, scaling=a.scaling, loop=loop)
    if loop.is_main:
        write(a, ds, result, "xla")


def write(a, ds, result, device_kind: str) -> None:
    meta = {"recipe": a.recipe, "seed": a.seed, "data": ds.source, "image_shape": list(ds.image_shape),
            "device": device_kind, "scaling": a.scaling, **result.metrics}
    io.write_csv(a.history, pd.DataFrame(result.history))
    io.write_json(a.metrics, meta)
    save_checkpoint(a.checkpoint, result.model, meta)  # last: the checkpoint marks completion


if __name__ == "__main__":
    cli.run(main)
