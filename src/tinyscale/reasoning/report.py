"""The reasoning study's report section: what its Sudoku datasets hold, read from the
dataset folders (dataset.json, the inputs and the group boundaries)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .dataset import decode, load_split
from .sudoku import givens

TITLE = "Sudoku datasets for recursive reasoning models"


def _split(folder: Path) -> dict:
    """A split's counts, read (and its invariants checked) by the dataset's own reader."""
    split = load_split(folder, mmap=True)
    groups = split["group_indices"]
    counts = givens(decode(split["inputs"][groups[:-1]]))   # each group's first example: the original
    return {"meta": split["metadata"], "examples": len(split["inputs"]), "puzzles": len(groups) - 1,
            "givens": (int(counts.min()), float(counts.mean()), int(counts.max()))}


def dataset_table(folders: list[Path]) -> pd.DataFrame:
    rows = []
    for folder in folders:
        train, test = _split(folder / "train"), _split(folder / "test")
        side = int(round(train["meta"]["seq_len"] ** 0.5))
        lo, mean, hi = train["givens"]
        rows.append({"dataset": folder.name, "board": f"{side}x{side}",
                     "train puzzles": train["puzzles"], "train examples": train["examples"],
                     "per puzzle": train["examples"] // max(1, train["puzzles"]),
                     "test puzzles": test["puzzles"],
                     "givens (train)": f"{mean:.1f} ({lo}–{hi})",
                     "givens (test)": f"{test['givens'][1]:.1f} ({test['givens'][0]}–{test['givens'][2]})",
                     "vocab": train["meta"]["vocab_size"]})
    return pd.DataFrame(rows)


class Section:
    """The campaign report's section (see tinyscale.report)."""

    title = TITLE

    def __init__(self, table: pd.DataFrame):
        self.table = table

    def facts(self) -> list[tuple[str, str]]:
        return [("Sudoku datasets", ", ".join(f"{r['dataset']} ({r['board']})" for _, r in self.table.iterrows()))]

    def one_line(self) -> str:
        return f"{len(self.table)} Sudoku datasets in the TRM/HRM format"

    def summary(self) -> list[str]:
        return [f"{r['dataset']}: {r['train puzzles']} training puzzles x {r['per puzzle']} examples each "
                f"(the original and {r['per puzzle'] - 1} augmentations) = {r['train examples']} training examples; "
                f"{r['test puzzles']} test puzzles; {r['board']} boards with {r['givens (train)']} givens."
                for _, r in self.table.iterrows()]

    def story(self, s, n: int) -> list:
        from reportlab.platypus import Paragraph, Spacer

        from ..report.pdf import bullets, table

        return [Paragraph(f"{n} {self.title}", s["h1"]),
                Paragraph("Each dataset is a folder in the TRM/HRM format (train/ and test/, each with "
                          "all__*.npy and dataset.json). A training group is an original puzzle followed by its "
                          "augmentations (digit relabelling, transposition, band/row and stack/column "
                          "permutations); the test split is not augmented. Givens: mean (min–max) per puzzle.",
                          s["body"]), Spacer(1, 6),
                table(self.table, font_size=9), Spacer(1, 10), bullets(self.summary(), s["body"]),
                Spacer(1, 14)]

    def slides(self, prs) -> None:
        from pptx.util import Inches

        from ..report.slides import BLANK as LAYOUT, BODY_TOP, BODY_W, MARGIN, add_bullets, add_table, add_title

        slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT])
        add_title(slide, "Reasoning: the Sudoku datasets")
        shape = add_table(slide, self.table[["dataset", "board", "train puzzles", "train examples", "test puzzles",
                                             "givens (train)"]], MARGIN, BODY_TOP, BODY_W, size=14)
        top = BODY_TOP + shape.height + Inches(0.3)
        add_bullets(slide, MARGIN, top, BODY_W, Inches(7.0) - top, self.summary(), largest=18)


def section(inputs: dict[str, list[str]], provenance: dict) -> Section:
    """From ``inputs["datasets"]``: files inside each dataset folder (<dataset>/<split>/...)."""
    folders = list(dict.fromkeys(Path(p).parent.parent for p in inputs["datasets"]))
    return Section(dataset_table(folders))
