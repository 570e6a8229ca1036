"""The curvature study's data: its training/validation split, injected label noise and class order.

Writes --out (an .npz: labels, the labels training uses; true_labels; mislabelled; train_index
and val_index, positions in the dataset's training set) and --order (the class order, a .npy in
the seed's class_order/index-{i}.npy form: a seeded permutation, or the file --order-from names).
The images themselves are read from the dataset by every rule that needs them.
"""
import numpy as np

from tinyscale import cli, io
from tinyscale.curvature import data
from tinyscale.curvature.training import load_images


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", type=cli.json_arg, required=True, help="the curvature.data block (JSON)")
    p.add_argument("--order-from", default=None, help="a class-order .npy to use (default: a seeded permutation)")
    p.add_argument("--out", required=True)
    p.add_argument("--order", required=True)
    a = p.parse_args()
    images = load_images(a.data, a.seed)
    n = images.n_classes
    order = data.read_class_order(a.order_from, n) if a.order_from else data.class_order(n, a.seed)
    train, val = data.split_validation(images.train_y, a.data["val_fraction"], a.seed)
    # noise only where training sees it: the validation images keep their true labels
    labels, mislabelled = images.train_y.astype(np.int64), np.zeros(len(images.train_y), dtype=bool)
    labels[train], mislabelled[train] = data.mislabel(images.train_y[train], a.data["label_noise"], n, a.seed,
                                                      key="curvature.data.label_noise")
    io.write_npz(a.out, labels=labels, true_labels=images.train_y.astype(np.int64), mislabelled=mislabelled,
                 train_index=train, val_index=val)
    with io.atomic_path(a.order) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, order.astype(np.int64))
    cli.log.info("%s: %d training images (%d mislabelled), %d validation; class order %s",
                 a.data["dataset"], len(train), int(mislabelled.sum()), len(val), order.tolist()[:10])


if __name__ == "__main__":
    cli.run(main)
