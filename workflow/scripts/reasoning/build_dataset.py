"""Build one Sudoku dataset of the reasoning study (TRM/HRM format) into --out.

--spec is the dataset's config block (JSON): {"source": "generate" | "csv",
"size": 4 | 6 | 9, "givens": int or [lo, hi], "train_puzzles", "test_puzzles",
"augmentations", "csv_dir", "min_rating", "subsample"}. --out gets train/,
test/ and identifiers.json; it is built next to --out under a temporary name
and renamed onto it at the end, so a failed run leaves no --out behind.
"""
from tinyscale import cli
from tinyscale.reasoning import dataset


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True, help="the dataset directory, e.g. results/reasoning/data/sudoku-4x4")
    p.add_argument("--spec", type=cli.json_arg, required=True, help="the dataset's config block, as JSON")
    a = p.parse_args()
    summary = dataset.build_from_spec(a.out, a.spec, a.seed)
    cli.log.info("%s: %s, seed %d, %d training examples (%d puzzles x %d), %d test puzzles",
                 a.out, summary["board"], a.seed, summary["train_examples"], summary["train_puzzles"],
                 1 + summary["augmentations"], summary["test_puzzles"])


if __name__ == "__main__":
    cli.run(main)
