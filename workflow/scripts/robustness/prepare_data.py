"""Prepare the dataset of the robustness study as one npz file."""
from tinyscale import cli
from tinyscale.robustness import data


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--source", choices=data.SOURCES, required=True)
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ds = data.prepare({"source": a.source, "mnist_dir": a.mnist_dir, "test_fraction": a.test_fraction}, a.seed)
    cli.log.info("%s: %d train and %d test images of %s", a.source, len(ds.y_train), len(ds.y_test),
                 "x".join(map(str, ds.image_shape)))
    data.save(a.out, ds)


if __name__ == "__main__":
    cli.run(main)
