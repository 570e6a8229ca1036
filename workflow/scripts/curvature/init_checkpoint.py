"""The epoch-0 checkpoint: the untrained net, seeded (the first task trains from it)."""
import torch

from tinyscale import cli
from tinyscale.curvature.models import build_model
from tinyscale.curvature.training import load_images, save_weights


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", type=cli.json_arg, required=True, help="the curvature.data block (JSON)")
    p.add_argument("--model", type=cli.json_arg, required=True, help="the curvature.model block (JSON)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    images = load_images(a.data, a.seed)
    torch.manual_seed(a.seed)
    net = build_model(a.model, images.image_shape[0], images.n_classes)
    save_weights(a.out, net.state_dict())
    cli.log.info("untrained net: %d parameters", sum(p.numel() for p in net.parameters()))


if __name__ == "__main__":
    cli.run(main)
