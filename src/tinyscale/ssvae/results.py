"""The SSVAE grid's tables from its points' metrics.json files.

``grid.csv``: one row per point (the seed's per-configuration fields, the three disentanglement
scores, the labelled set's hash, what ran it). ``summary.csv``: per (n_labels, corruption_rate,
alpha), the mean and standard deviation over seeds of every score, with the count of seeds.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import ResultsError

KEYS = ["n_labels", "corruption_rate", "alpha"]
SCORES = ["final_test_accuracy", "final_test_elbo", "beta_vae", "factor_vae", "mig"]
COLUMNS = ["dataset", *KEYS, "seed", *SCORES, "labelled_sha256", "labelled", "corrupted", "label_scheme",
           "epochs", "device", "world_size", "seconds"]


def read_record(path: str | Path) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        record["disentanglement"]
        record["labelled"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ResultsError(f"{path}: not a grid point's metrics.json ({err})") from err
    return record


def grid_table(paths: list[str | Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        r = read_record(path)
        rows.append({**{k: r[k] for k in ("dataset", *KEYS, "seed", "final_test_accuracy", "final_test_elbo")},
                     **r["disentanglement"], "labelled_sha256": r["labelled"]["sha256"],
                     "labelled": r["labelled"]["count"], "corrupted": r["labelled"]["corrupted"],
                     "label_scheme": r["label_scheme"], "epochs": r["config"]["training"]["epochs"],
                     "device": r["device"], "world_size": r["world_size"], "seconds": r["seconds"]})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values([*KEYS, "seed"], kind="stable").reset_index(drop=True)


def summary_table(grid: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1; NaN for one seed) and count over seeds per configuration."""
    groups = grid.groupby(KEYS, sort=True)
    out = groups.size().rename("seeds").to_frame()
    for score in SCORES:
        out[f"{score}_mean"] = groups[score].mean()
        out[f"{score}_std"] = groups[score].std(ddof=1)
    return out.reset_index()
