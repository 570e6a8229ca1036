"""The curvature study's tables, from the per-epoch result folders.

- summary.csv: per analysed epoch, the task whose classes its checkpoint was trained on, the
  active classes, the curvature's statistics, and the AUROC with which curvature (and the
  clean loss) ranks the mislabelled images above the clean ones;
- per_image_scores.csv: per training image, its memorisation score (curvature averaged over
  the epochs at which it was scored) and its cumulative sample loss (the loss summed over them);
- detection.csv: the AUROC of each per-image score (last epoch's curvature, memorisation,
  cumulative loss) for the mislabelled images.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ResultsError

ARRAYS = {"curvature": "per_image_curvature.npy", "directional_eig": "per_image_directional_eig.npy",
          "labels": "per_image_labels.npy", "index": "per_image_index.npy", "loss": "per_image_loss.npy"}
SUMMARY_COLUMNS = ["epoch", "task", "classes", "active_classes", "images", "mislabelled", "curvature_mean",
                   "curvature_std", "curvature_min", "curvature_median", "curvature_max",
                   "directional_eig_mean", "loss_mean", "auroc", "auroc_loss", "images_per_s", "world_size",
                   "device"]


def load_epoch(folder: str | Path) -> dict:
    """One epoch's arrays and metadata (one error naming the file that is missing or unreadable)."""
    folder = Path(folder)
    out = {}
    for key, name in ARRAYS.items():
        try:
            out[key] = np.load(folder / name, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ResultsError(f"{folder / name}: not a readable array ({err})") from None
    try:
        out["metadata"] = json.loads((folder / "metadata.json").read_text())
    except (OSError, ValueError) as err:
        raise ResultsError(f"{folder / 'metadata.json'}: not readable ({err})") from None
    sizes = {len(out[k]) for k in ARRAYS}
    if len(sizes) != 1:
        raise ResultsError(f"{folder}: its arrays differ in length")
    return out


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The probability that a positive scores above a negative (ties count half); NaN without both."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def summary_row(epoch: dict, mislabelled: np.ndarray, task: int) -> dict:
    m, c = epoch["metadata"], epoch["curvature"]
    flags = mislabelled[epoch["index"]]
    stats = (lambda f: float(f(c)) if len(c) else float("nan"))
    return {"epoch": m["epoch"], "task": task, "classes": len(m["allowed_classes"]),
            "active_classes": " ".join(map(str, m["allowed_classes"])), "images": len(c),
            "mislabelled": int(flags.sum()), "curvature_mean": stats(np.mean), "curvature_std": stats(np.std),
            "curvature_min": stats(np.min), "curvature_median": stats(np.median), "curvature_max": stats(np.max),
            "directional_eig_mean": float(np.mean(epoch["directional_eig"])) if len(c) else float("nan"),
            "loss_mean": float(np.mean(epoch["loss"])) if len(c) else float("nan"),
            "auroc": auroc(c, flags), "auroc_loss": auroc(epoch["loss"], flags),
            "images_per_s": m.get("images_per_s"), "world_size": m.get("world_size"), "device": m.get("device")}


def per_image_scores(epochs: list[dict], labels: np.ndarray, true_labels: np.ndarray, mislabelled: np.ndarray,
                     arrival: np.ndarray) -> pd.DataFrame:
    """Per training image scored at least once: memorisation (mean curvature over the epochs that
    scored it), cumulative sample loss (their summed loss), and its last curvature."""
    n = len(labels)
    count, curv_sum, loss_sum, last = np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, np.nan)
    for e in sorted(epochs, key=lambda e: e["metadata"]["epoch"]):
        i = e["index"]
        count[i] += 1
        curv_sum[i] += e["curvature"]
        loss_sum[i] += e["loss"]
        last[i] = e["curvature"]
    seen = np.flatnonzero(count)
    return pd.DataFrame({"index": seen, "label": labels[seen], "true_label": true_labels[seen],
                         "mislabelled": mislabelled[seen], "arrival_task": arrival[labels[seen]],
                         "epochs_scored": count[seen].astype(int),
                         "memorisation": curv_sum[seen] / count[seen], "cumulative_loss": loss_sum[seen],
                         "last_curvature": last[seen]})


def detection(scores: pd.DataFrame, last_epoch: dict, mislabelled: np.ndarray) -> pd.DataFrame:
    """The AUROC of each score for the mislabelled images (the last epoch's own images for its
    curvature; every scored image for the scores accumulated over epochs)."""
    flags = scores["mislabelled"].to_numpy(bool)
    last_flags = mislabelled[last_epoch["index"]]
    rows = [("curvature at the last epoch", last_epoch["curvature"], last_flags),
            ("clean loss at the last epoch", last_epoch["loss"], last_flags),
            ("memorisation (curvature averaged over epochs)", scores["memorisation"], flags),
            ("cumulative sample loss", scores["cumulative_loss"], flags)]
    return pd.DataFrame([{"score": name, "images": len(f), "mislabelled": int(np.sum(f)), "auroc": auroc(s, f)}
                         for name, s, f in rows])
