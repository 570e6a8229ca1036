"""Train one TRM-MLP checkpoint (standard or PGD-adversarial)."""
import pandas as pd

from tinyscale import cli, data, dist, io, runtime
from tinyscale.checkpoint import save_checkpoint
from tinyscale.train import train


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
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    ds = data.load(a.data)
    result = train(ds, a.model_config, a.recipe, a.eval_attack, a.seed, world.device,
                   a.validation_fraction, world, a.scaling)
    if world.is_main:
        meta = {"recipe": a.recipe, "seed": a.seed, "data": ds.source, "image_shape": list(ds.image_shape),
                "device": runtime.device_kind(world.device), "scaling": a.scaling, **result.metrics}
        io.write_csv(a.history, pd.DataFrame(result.history))
        io.write_json(a.metrics, meta)
        save_checkpoint(a.checkpoint, result.model, meta)  # last: the checkpoint marks completion
    world.close()


if __name__ == "__main__":
    cli.run(main)
