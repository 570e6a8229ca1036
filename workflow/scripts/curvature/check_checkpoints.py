"""Check a folder of the user's checkpoints before any epoch is analysed: each must be a state dict
of the configured net (one error naming the first file that is not). Writes --out, a record of
each file's epoch and size."""
import re
from pathlib import Path

from tinyscale import cli, io
from tinyscale.curvature.models import build_model
from tinyscale.curvature.training import load_images, load_weights


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", type=cli.json_arg, required=True, help="the curvature.data block (JSON)")
    p.add_argument("--model", type=cli.json_arg, required=True, help="the curvature.model block (JSON)")
    p.add_argument("--out", required=True)
    p.add_argument("checkpoints", nargs="+")
    a = p.parse_args()
    images = load_images(a.data, a.seed)
    net = build_model(a.model, images.image_shape[0], images.n_classes)
    records = []
    for path in a.checkpoints:
        load_weights(path, net)
        epoch = re.search(r"epoch-(\d+)\.pt$", path)
        records.append({"file": path, "epoch": int(epoch[1]) if epoch else None, "bytes": Path(path).stat().st_size})
    io.write_json(a.out, {"checkpoints": records, "parameters": sum(p.numel() for p in net.parameters())})
    cli.log.info("%d checkpoints match the configured net", len(records))


if __name__ == "__main__":
    cli.run(main)
