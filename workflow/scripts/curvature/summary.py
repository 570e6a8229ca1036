"""The curvature study's tables from every analysed epoch: summary.csv (per epoch),
per_image_scores.csv (memorisation score and cumulative sample loss per image) and
detection.csv (each score's AUROC for the mislabelled images)."""
import numpy as np
import pandas as pd

from tinyscale import cli, io
from tinyscale.curvature import results


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--split", required=True, help="results/curvature/data.npz")
    p.add_argument("--order", required=True, help="results/curvature/class_order.npy")
    p.add_argument("--tasks", type=cli.json_arg, required=True,
                   help="per epoch folder, the task its checkpoint was trained on (JSON object)")
    p.add_argument("--arrival", type=cli.json_arg, required=True,
                   help="per position of the class order, the task it arrives in (JSON list)")
    p.add_argument("--summary", required=True)
    p.add_argument("--scores", required=True)
    p.add_argument("--detection", required=True)
    a = p.parse_args()
    with np.load(a.split, allow_pickle=False) as z:
        labels, true_labels, mislabelled = z["labels"], z["true_labels"], z["mislabelled"].astype(bool)
    order = np.load(a.order, allow_pickle=False)
    arrival = np.empty(len(order), dtype=np.int64)
    arrival[order] = a.arrival
    epochs = {folder: results.load_epoch(folder) for folder in a.tasks}
    summary = pd.DataFrame([results.summary_row(e, mislabelled, a.tasks[f]) for f, e in epochs.items()],
                           columns=results.SUMMARY_COLUMNS).sort_values("epoch")
    scores = results.per_image_scores(list(epochs.values()), labels, true_labels, mislabelled, arrival)
    last = max(epochs.values(), key=lambda e: e["metadata"]["epoch"])
    detect = results.detection(scores, last, mislabelled)
    io.write_csv(a.summary, summary)
    io.write_csv(a.scores, scores)
    io.write_csv(a.detection, detect)
    for _, r in summary.iterrows():
        cli.log.info("epoch %d (task %d, %d classes): %d images, curvature median %.4g, AUROC %.3f (loss %.3f)",
                     r["epoch"], r["task"], r["classes"], r["images"], r["curvature_median"], r["auroc"],
                     r["auroc_loss"])
    for _, r in detect.iterrows():
        cli.log.info("%s: AUROC %.3f", r["score"], r["auroc"])


if __name__ == "__main__":
    cli.run(main)
