"""The robustness block's checks beyond its schema. The Snakefile runs them at every
start (tinyscale.config.validate), so this module imports nothing heavy (numpy only,
and only when a dataset is read)."""
from __future__ import annotations

from pathlib import Path

from ..config import format_eps
from ..errors import ConfigError, DataError

KEY = "robustness"


def check(block: dict, config: dict) -> None:
    labels = [format_eps(e) for e in block["eps"]]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"config key '{KEY}.eps': values {labels} collide in file names")
    data = block["data"]
    if data["source"] == "mnist":
        if not data["mnist_dir"]:
            raise ConfigError(f"config key '{KEY}.data.mnist_dir': required when {KEY}.data.source is 'mnist'")
        if not Path(data["mnist_dir"]).is_dir():
            raise ConfigError(f"config key '{KEY}.data.mnist_dir': folder {data['mnist_dir']!r} does not exist")
    training, scaling = block["training"], block["scaling"]
    if scaling["model"] is not None and scaling["model"] not in training["models"]:
        raise ConfigError(f"config key '{KEY}.scaling.model': {scaling['model']!r} is not one of "
                          f"{KEY}.training.models")
    for name, recipe in training["models"].items():
        key = f"{KEY}.training.models.{name}"
        if recipe["select"] == "best_adversarial" and not (recipe["adversarial"] or training["eval_attack"]):
            raise ConfigError(f"config key '{key}.select': best_adversarial needs an attack")
        if recipe["lr_schedule"] == "cosine" and recipe["lr_min"] > recipe["lr"]:
            raise ConfigError(f"config key '{key}.lr_min': larger than lr ({recipe['lr']})")


def check_samples(dataset_path: str | Path, samples: int) -> None:
    """Raise ConfigError (naming ``robustness.samples``) if the dataset's test
    split has fewer than ``samples`` images.

    Cheap: reads only the test labels. Does nothing while the dataset does not
    exist yet, or cannot be read (the rule that reads it reports that, and a
    rerun rebuilds it), so a dry run can call it.
    """
    from ..io import load_npz  # numpy: only once the dataset exists

    path = Path(dataset_path)
    if not path.is_file():
        return
    try:
        n_test = len(load_npz(path, ["y_test"])["y_test"])
    except DataError:
        return
    if samples > n_test:
        raise ConfigError(f"config key '{KEY}.samples': {samples} samples asked for but the "
                          f"test split of {path} has only {n_test} images")
