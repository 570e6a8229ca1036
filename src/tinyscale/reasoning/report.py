"""The reasoning study's report section: what its Sudoku datasets hold, read from the
dataset folders (dataset.json, the inputs and the group boundaries), and what each
TRM experiment reached, read from its eval.json and metrics.csv."""
from __future__ import annotations

from pathlib import Path

import json

import pandas as pd

from .dataset import decode, load_split
from .sudoku import givens

TITLE = "Recursive reasoning models on Sudoku"


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


def experiment_table(eval_files: list[Path]) -> pd.DataFrame:
    """One row per experiment: its test accuracies beside the copy-the-givens baseline."""
    rows = []
    for path in eval_files:
        e = json.loads(Path(path).read_text())
        metrics = pd.read_csv(Path(path).with_name("metrics.csv"))
        rows.append({"experiment": e["experiment"], "dataset": Path(e["dataset"]).name,
                     "T x n": f"{e['model']['H_cycles']} x {e['model']['L_cycles']}",
                     "params": e["parameters"], "steps": e["steps"],
                     "exact": e["test"]["exact_acc"], "token": e["test"]["token_acc"],
                     "blank cells": e["test"]["blank_acc"],
                     "copy exact": e["copy_baseline"]["exact_acc"], "copy token": e["copy_baseline"]["token_acc"],
                     "best exact": float(metrics["test_exact_acc"].max()),
                     "train s": e["train_seconds"], "device": f"{e['device']} x{e['world_size']}"})
    return pd.DataFrame(rows)


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


class Section:
    """The campaign report's section (see tinyscale.report)."""

    title = TITLE

    def __init__(self, table: pd.DataFrame, experiments: pd.DataFrame):
        self.table = table
        self.experiments = experiments

    def facts(self) -> list[tuple[str, str]]:
        facts = [("Sudoku datasets", ", ".join(f"{r['dataset']} ({r['board']})" for _, r in self.table.iterrows()))]
        if len(self.experiments):
            facts.append(("TRM experiments", ", ".join(self.experiments["experiment"])))
        return facts

    def one_line(self) -> str:
        line = f"{len(self.table)} Sudoku datasets in the TRM/HRM format"
        if len(self.experiments):
            best = self.experiments.loc[self.experiments["exact"].idxmax()]
            line += (f"; TRM {best['experiment']} solves {_pct(best['exact'])} of the held-out puzzles "
                     f"(copying the givens: {_pct(best['copy exact'])})")
        return line

    def summary(self) -> list[str]:
        out = [f"{r['dataset']}: {r['train puzzles']} training puzzles x {r['per puzzle']} examples each "
               f"(the original and {r['per puzzle'] - 1} augmentations) = {r['train examples']} training examples; "
               f"{r['test puzzles']} test puzzles; {r['board']} boards with {r['givens (train)']} givens."
               for _, r in self.table.iterrows()]
        out += [f"{r['experiment']} (T x n = {r['T x n']}, {r['params']:,} parameters, {r['steps']} steps, "
                f"{r['train s']:.0f} s on {r['device']}): exact accuracy {_pct(r['exact'])}, token "
                f"{_pct(r['token'])}, blank cells {_pct(r['blank cells'])}; copying the givens scores "
                f"{_pct(r['copy exact'])} exact, {_pct(r['copy token'])} token."
                for _, r in self.experiments.iterrows()]
        return out

    def experiment_columns(self) -> pd.DataFrame:
        t = self.experiments[["experiment", "dataset", "T x n", "params", "steps", "exact", "token",
                              "blank cells", "copy token"]].copy()
        for c in ("exact", "token", "blank cells", "copy token"):
            t[c] = t[c].map(_pct)
        return t

    def story(self, s, n: int) -> list:
        from reportlab.platypus import Paragraph, Spacer

        from ..report.pdf import bullets, table

        return [Paragraph(f"{n} {self.title}", s["h1"]),
                Paragraph("Each dataset is a folder in the TRM/HRM format (train/ and test/, each with "
                          "all__*.npy and dataset.json). A training group is an original puzzle followed by its "
                          "augmentations (digit relabelling, transposition, band/row and stack/column "
                          "permutations); the test split is not augmented. Givens: mean (min–max) per puzzle.",
                          s["body"]), Spacer(1, 6),
                table(self.table, font_size=9), Spacer(1, 10),
                *([Paragraph("TRM experiments: test metrics of the evaluated (EMA) weights after all "
                             "supervision steps, beside the copy-the-givens baseline (token accuracy = the "
                             "givens' share, exact accuracy 0).", s["body"]), Spacer(1, 6),
                   table(self.experiment_columns(), font_size=8), Spacer(1, 10)] if len(self.experiments) else []),
                bullets(self.summary(), s["body"]), Spacer(1, 14)]

    def slides(self, prs) -> None:
        from pptx.util import Inches

        from ..report.slides import BLANK as LAYOUT, BODY_TOP, BODY_W, MARGIN, add_bullets, add_table, add_title

        slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT])
        add_title(slide, "Reasoning: the Sudoku datasets")
        shape = add_table(slide, self.table[["dataset", "board", "train puzzles", "train examples", "test puzzles",
                                             "givens (train)"]], MARGIN, BODY_TOP, BODY_W, size=14)
        top = BODY_TOP + shape.height + Inches(0.3)
        add_bullets(slide, MARGIN, top, BODY_W, Inches(7.0) - top, self.summary()[:len(self.table)], largest=18)
        if len(self.experiments):
            slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT])
            add_title(slide, "Reasoning: TRM on held-out puzzles")
            shape = add_table(slide, self.experiment_columns(), MARGIN, BODY_TOP, BODY_W, size=12)
            top = BODY_TOP + shape.height + Inches(0.3)
            add_bullets(slide, MARGIN, top, BODY_W, Inches(7.0) - top, self.summary()[len(self.table):],
                        largest=16)


def section(inputs: dict[str, list[str]], provenance: dict) -> Section:
    """From ``inputs["datasets"]`` (files inside each dataset folder, <dataset>/<split>/...) and
    ``inputs["experiments"]`` (each experiment's eval.json and metrics.csv)."""
    folders = list(dict.fromkeys(Path(p).parent.parent for p in inputs["datasets"]))
    evals = [Path(p) for p in inputs.get("experiments", []) if p.endswith("eval.json")]
    return Section(dataset_table(folders), experiment_table(evals))
