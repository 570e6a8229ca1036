"""Choose the verification samples (a seeded rule) and write them once for every cell."""
from tinyscale import cli
from tinyscale.robustness import data
from tinyscale.robustness.settings import check_samples


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--samples", type=int, required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    check_samples(a.data, a.samples)  # config key robustness.samples, before any work
    ds = data.load(a.data)
    data.save_samples(a.out, ds, a.samples, a.seed)
    cli.log.info("%d samples of %d test images (seed %d)", a.samples, len(ds.y_test), a.seed)


if __name__ == "__main__":
    cli.run(main)
