"""Draw the curvature study's report figures from its result files, each as <figure>.png and <figure>.svg.

  figures.py --data '<the curvature.data block, JSON>' --seed 0
             --summary results/curvature/summary.csv --scores results/curvature/per_image_scores.csv
             --top-k 16 --out <figure>.png <figure>.svg ...

The figures are those --out names: curvature_by_arrival, mislabelled_vs_clean, auroc and
top_curvature. Each epoch of summary.csv has its arrays in <summary's folder>/epoch_<epoch:04d>/
(per_image_curvature.npy, per_image_index.npy). top_curvature shows the dataset's images,
loaded as the study loads them (--data, --seed).
"""

from tinyscale import cli
from tinyscale.curvature import figures
from tinyscale.curvature.report import load_curvature, load_scores, load_summary


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", type=cli.json_arg, required=True, help="the curvature.data block (JSON)")
    p.add_argument("--summary", required=True, help="results/curvature/summary.csv")
    p.add_argument("--scores", required=True, help="results/curvature/per_image_scores.csv")
    p.add_argument("--top-k", type=int, default=16, help="images in top_curvature's grid")
    p.add_argument("--out", nargs="+", required=True, help="<figure>.png and <figure>.svg of each figure to draw")
    a = p.parse_args()
    wanted = figures.outputs(p, a.out, figures.FIGURES)
    if a.top_k < 1:
        p.error("--top-k must be at least 1")
    summary = load_summary(a.summary)
    frame = load_curvature(a.summary, summary, load_scores(a.scores))
    figures.theme()

    def top_curvature():
        from tinyscale.curvature.training import load_images  # torch and the dataset: only for this figure
        return figures.top_curvature(frame, load_images(a.data, a.seed), a.top_k)

    draw = {"curvature_by_arrival": lambda: figures.curvature_by_arrival(summary, frame),
            "mislabelled_vs_clean": lambda: figures.mislabelled_vs_clean(summary, frame),
            "auroc": lambda: figures.auroc(summary),
            "top_curvature": top_curvature}
    figures.save_all(wanted, draw)

if __name__ == "__main__":
    cli.run(main)
