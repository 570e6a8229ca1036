"""The reasoning study's report section: what its Sudoku datasets hold, read from the
dataset folders (dataset.json, the inputs and the group boundaries), and what each
experiment reached, suite by suite, against the study's baseline, read from
results/reasoning/experiments.csv (a row per experiment, written by the merge rule) and
each experiment's metrics.csv (its learning curve).

Every sentence about an experiment is computed from that table: which settings differ
from the baseline's (the :data:`SETTINGS` columns compared) and how many points of exact
accuracy it gains or loses. A value a paper reported (``ref_exact_acc``) is shown only
in a column or marker headed as a reference, never as a result of this campaign: it was
measured on the paper's data, with the paper's budget.
"""
from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd

from ..errors import ResultsError
from ..report import read_csv, throughput_rows
from .dataset import decode, load_split
from .results import COLUMNS as EXPERIMENT_COLUMNS
from .sudoku import givens

TITLE = "Recursive reasoning models on Sudoku"
METRICS_COLUMNS = ["step", "test_exact_acc", "train_lm_loss"]  # those the section and the figures read
# the columns that say how an experiment was set up: what differs from the baseline is read from these
SETTINGS = ["dataset", "arch", "mixer", "act", "T", "n", "Nsup", "L_layers", "H_layers", "hidden", "puzzle_emb_len",
            "batch", "lr", "ema", "epochs", "warmup_steps", "weight_decay", "precision"]
OTHER = "other"  # the group of experiments that no suite lists
REFERENCE = "paper (reference)"  # the heading of a paper's values: never ours
DASH = "\u2013"


# ---------------------------------------------------------------- the datasets

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


# ---------------------------------------------------------------- the experiments: reading

def load_experiments(path: str | Path) -> pd.DataFrame:
    """experiments.csv, checked: every column, unique experiment names, exactly one baseline.
    ``suites`` becomes a string (empty where no suite lists the experiment) and ``baseline``
    a bool, whatever the CSV reader made of them."""
    table = read_csv(path, EXPERIMENT_COLUMNS)
    table["experiment"] = table["experiment"].astype(str)
    twice = sorted(set(table.loc[table["experiment"].duplicated(), "experiment"]))
    if twice:
        raise ResultsError(f"{path}: experiment(s) {', '.join(twice)} appear in more than one row")
    for column in ("suites", "leads"):
        table[column] = table[column].fillna("").astype(str).str.strip()
    table["baseline"] = table["baseline"].astype(str).str.strip().str.lower().isin(["true", "1"])
    table["ref_source"] = table["ref_source"].fillna("").astype(str)
    if table["baseline"].sum() != 1:
        raise ResultsError(f"{path}: {int(table['baseline'].sum())} rows have baseline True, expected exactly one")
    return table.reset_index(drop=True)


def load_metrics(paths: list[str | Path], table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each experiment's learning curve, by experiment: the name of the metrics.csv's folder,
    which must be a row of ``table`` (a curve of an experiment the table lacks is an error)."""
    known = set(table["experiment"])
    histories = {}
    for path in paths:
        name = Path(path).parent.name
        if name not in known:
            raise ResultsError(f"{path}: experiment {name} (its folder's name) is not in experiments.csv "
                               f"(experiments: {', '.join(table['experiment'])})")
        histories[name] = read_csv(path, METRICS_COLUMNS).sort_values("step", kind="stable")
    return histories


def baseline(table: pd.DataFrame) -> pd.Series:
    """The study's baseline row (load_experiments checked there is one)."""
    return table[table["baseline"]].iloc[0]


def suites(table: pd.DataFrame) -> dict[str, list[str]]:
    """Each suite's experiments, the one the others are compared with first (the row whose
    ``leads`` names the suite: the suite's first in the config), the others in the rows'
    (the config's) order; suites in order of first appearance in the rows. Experiments no
    suite lists go to the group "other", compared with the study's baseline."""
    groups: dict[str, list[str]] = {}
    for row in table.itertuples():
        for suite in row.suites.split():
            groups.setdefault(suite, []).append(row.experiment)
    out = {}
    for suite, names in groups.items():
        leads = [n for n in names if suite in table.set_index("experiment").at[n, "leads"].split()]
        lead = leads[0] if leads else names[0]
        out[suite] = [lead, *[n for n in names if n != lead]]
    base = baseline(table)["experiment"]
    loose = [r.experiment for r in table.itertuples() if not r.suites.split() and r.experiment != base]
    if loose or not out:
        out[OTHER] = [base, *loose]
    return out


# ---------------------------------------------------------------- the experiments: what differs

def _py(v):
    """A numpy scalar as the Python value it holds (pandas hands out numpy's)."""
    return v.item() if hasattr(v, "item") else v


def _missing(v) -> bool:
    v = _py(v)
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def setting(column: str, v) -> str:
    """A setting as the sentences write it: an empty EMA is "off", a whole number without
    its ".0", other numbers in their shortest form."""
    if _missing(v):
        return "off" if column == "ema" else "none"
    v = _py(v)
    if not _number(v):
        return str(v)
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _same(a, b) -> bool:
    a, b = _py(a), _py(b)
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if _number(a) and _number(b):
        return math.isclose(a, b, rel_tol=1e-9)
    return str(a) == str(b)


def differences(row: pd.Series, base: pd.Series) -> list[tuple[str, str, str]]:
    """(setting, baseline's value, this row's value) for each setting that differs, in
    :data:`SETTINGS` order. H_layers shapes only HRM's H module: it counts only where
    one of the two is an HRM."""
    out = []
    for column in SETTINGS:
        if column == "H_layers" and "hrm" not in (row["arch"], base["arch"]):
            continue
        if not _same(row[column], base[column]):
            out.append((column, setting(column, base[column]), setting(column, row[column])))
    return out


def changes(diffs: list[tuple[str, str, str]]) -> str:
    """The differences in full, as the sentences write them: "ema 0.99 -> off, T 2 -> 1"."""
    return ", ".join(f"{k} {a} -> {b}" for k, a, b in diffs) if diffs else "no setting differs"


def short_changes(diffs: list[tuple[str, str, str]], most: int = 2) -> str:
    """The differences' new values, at most ``most`` of them and the count of the others
    ("arch hrm, mixer attention +3": a table cell; the sentence below the table gives them all)."""
    if not diffs:
        return "none"
    shown = ", ".join(f"{k} {b}" for k, _, b in diffs[:most])
    return shown + (f" +{len(diffs) - most}" if len(diffs) > most else "")


def _pct(v) -> str:
    return DASH if _missing(v) else f"{100 * v:.1f}%"


def comparison(row: pd.Series, base: pd.Series) -> str:
    """What differs from the baseline and how many points of exact accuracy that gains or
    loses: "trm-ema-off (ema 0.99 -> off) loses 12.0 points of exact accuracy against trm
    (83.0% -> 71.0%)." (a point: one percent of the test puzzles)."""
    points = round(100 * (row["exact_acc"] - base["exact_acc"]), 1)
    head = f"{row['experiment']} ({changes(differences(row, base))})"
    if points == 0:
        return (f"{head} matches the exact accuracy of {base['experiment']} "
                f"({_pct(row['exact_acc'])} against {_pct(base['exact_acc'])}).")
    verb = "gains" if points > 0 else "loses"
    return (f"{head} {verb} {abs(points):.1f} points of exact accuracy against {base['experiment']} "
            f"({_pct(base['exact_acc'])} -> {_pct(row['exact_acc'])}).")


def reference_sentence(row: pd.Series) -> str | None:
    """A paper's value beside ours, said to be a reference (its data and budget are the paper's)."""
    if _missing(row["ref_exact_acc"]):
        return None
    source = row["ref_source"] or "a paper"
    return (f"Reference only: {source} reports {_pct(row['ref_exact_acc'])} exact accuracy for the setup of "
            f"{row['experiment']}; that is the paper's result on its own data and budget, not one of this "
            f"campaign (ours: {_pct(row['exact_acc'])}).")


def suite_sentences(table: pd.DataFrame, suite: str) -> list[str]:
    """A sentence per experiment of ``suite`` against the suite's first, then the reference
    values of the suite's rows (the first's too)."""
    rows = table.set_index("experiment", drop=False)
    lead, *members = suites(table)[suite]
    out = [comparison(rows.loc[name], rows.loc[lead]) for name in members]
    refs = [reference_sentence(rows.loc[name]) for name in [lead, *members]]
    return out + [r for r in refs if r]


def _sci(v) -> str:
    if _missing(v):
        return DASH
    mantissa, exponent = f"{float(v):.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def suite_table(table: pd.DataFrame, suite: str) -> pd.DataFrame:
    """The suite's rows for display, the one the others are compared with first and marked
    "(baseline)"; a column of the paper's values, headed as a reference, only where one of
    the rows has one."""
    rows = table.set_index("experiment", drop=False)
    names = suites(table)[suite]
    base = rows.loc[names[0]]
    out = []
    for name in names:
        r = rows.loc[name]
        is_base = name == names[0]
        out.append({"experiment": f"{name} (baseline)" if is_base else name,
                    "vs baseline": DASH if is_base else short_changes(differences(r, base)),
                    "params": f"{int(r['parameters']):,}", "steps": str(int(r["steps"])),
                    "exact": _pct(r["exact_acc"]), "token": _pct(r["token_acc"]), "q_halt": _pct(r["q_halt_acc"]),
                    "mean steps": DASH if _missing(r["mean_steps"]) else f"{r['mean_steps']:.2f}",
                    "FLOPs / pt": _sci(r["flops_per_exact_point"]),
                    "train s": f"{r['train_seconds']:.0f}",
                    REFERENCE: _pct(r["ref_exact_acc"])})
    frame = pd.DataFrame(out)
    if rows.loc[names, "ref_exact_acc"].isna().all():
        frame = frame.drop(columns=[REFERENCE])
    return frame


def curve_table(histories: dict[str, pd.DataFrame], table: pd.DataFrame) -> pd.DataFrame:
    """Per learning curve: its evaluations, the best test exact accuracy and its step, and
    the last evaluation's (where the curve peaked before the end, the two differ)."""
    rows = []
    for name in table["experiment"]:
        if name not in histories:
            continue
        h = histories[name].dropna(subset=["test_exact_acc"])
        if h.empty:
            continue
        best = h.loc[h["test_exact_acc"].idxmax()]
        rows.append({"experiment": name, "evaluations": len(h), "best exact": _pct(best["test_exact_acc"]),
                     "at step": str(int(best["step"])), "last exact": _pct(h["test_exact_acc"].iat[-1]),
                     "last step": str(int(h["step"].iat[-1]))})
    return pd.DataFrame(rows)


def scaling_rows(path: str | Path) -> pd.DataFrame:
    """Training throughput per (nodes, processes) from results/reasoning/scaling/scaling.csv (the
    core's table). Each process keeps the experiment's batch."""
    return throughput_rows(path, ("global batch", "batch"), "examples/s")[0]


def _copy_text(table: pd.DataFrame) -> str:
    """The copy-the-givens baseline per dataset: exact 0 (a blank cell is never right), token
    accuracy the givens' share."""
    per = table.drop_duplicates("dataset")
    return "; ".join(f"{r.dataset}: exact {_pct(r.copy_exact_acc)}, token {_pct(r.copy_token_acc)}"
                     for r in per.itertuples())


# ---------------------------------------------------------------- the section

FIGURE_TITLES = {"accuracy_by_suite": "Exact accuracy by suite", "learning_curves": "Learning curves",
                 "tn_heatmap": "Recursion depth: T x n", "params_vs_accuracy": "Parameters against accuracy"}


class Section:
    """The campaign report's section (see tinyscale.report)."""

    title = TITLE

    def __init__(self, datasets: pd.DataFrame, experiments: pd.DataFrame | None = None,
                 histories: dict[str, pd.DataFrame] | None = None, figures: list | None = None,
                 scaling: pd.DataFrame | None = None):
        self.table = datasets
        self.experiments = experiments
        self.histories = histories or {}
        self.figures = figures or []
        self.scaling = scaling if scaling is not None else pd.DataFrame()

    def scaling_note(self) -> str:
        what = self.scaling["config"].iat[0]
        return (f"Training throughput ({what}, results/reasoning/scaling/scaling.csv): each process keeps the "
                "experiment's batch, so the global batch grows with the world size (seed 002's rule); examples/s "
                "is training examples (one supervision step each) over the slowest rank's time, the mean of the "
                "repeats; memory is the largest peak of a process (resident set on the CPU, CUDA allocation on a "
                "GPU).")

    @property
    def has_experiments(self) -> bool:
        return self.experiments is not None and len(self.experiments) > 0

    def groups(self) -> dict[str, list[str]]:
        return suites(self.experiments) if self.has_experiments else {}

    def facts(self) -> list[tuple[str, str]]:
        facts = [("Sudoku datasets", ", ".join(f"{r['dataset']} ({r['board']})" for _, r in self.table.iterrows()))]
        if self.has_experiments:
            facts.append(("reasoning experiments",
                          f"{len(self.experiments)} ({', '.join(self.experiments['experiment'])}); "
                          f"{self._suites_text()}; baseline {baseline(self.experiments)['experiment']}"))
        return facts

    def _suites_text(self) -> str:
        """The suites ("2 suites (recursion, ema)") and how many experiments no suite lists."""
        named = [g for g in self.groups() if g != OTHER]
        text = f"{len(named)} suite{'s' if len(named) != 1 else ''}" + (f" ({', '.join(named)})" if named else "")
        loose = self.groups().get(OTHER, [])
        return text + (f", {len(loose)} in none" if loose else "")

    def one_line(self) -> str:
        n = len(self.table)
        line = f"{n} Sudoku dataset{'s' if n != 1 else ''} in the TRM/HRM format"
        if self.has_experiments:
            base = baseline(self.experiments)
            line += (f"; {len(self.experiments)} experiments, {self._suites_text()}; the baseline "
                     f"{base['experiment']} solves {_pct(base['exact_acc'])} of the held-out puzzles "
                     f"(copying the givens: {_pct(base['copy_exact_acc'])})")
        return line

    def dataset_lines(self) -> list[str]:
        return [f"{r['dataset']}: {r['train puzzles']} training puzzles x {r['per puzzle']} examples each "
                f"(the original and {r['per puzzle'] - 1} augmentations) = {r['train examples']} training "
                f"examples; {r['test puzzles']} test puzzles; {r['board']} boards with {r['givens (train)']} givens."
                for _, r in self.table.iterrows()]

    def suite_lines(self) -> dict[str, list[str]]:
        return {suite: suite_sentences(self.experiments, suite) for suite in self.groups()}

    def summary(self) -> list[str]:
        lines = self.dataset_lines()
        if self.has_experiments:
            lines += list(dict.fromkeys(s for sentences in self.suite_lines().values() for s in sentences))
        return lines

    def _intro(self) -> str:
        base = baseline(self.experiments)
        return (f"Every suite compares its experiments with its first (the study's baseline is {base['experiment']}), "
                "the first row of each table; the settings that differ from it are read from experiments.csv (vs "
                "baseline: the first of them, all in the sentences below the table). exact: held-out puzzles "
                "solved in every cell; token: cells right; q_halt: halting decisions right; mean steps: "
                "supervision steps used in evaluation; FLOPs / pt: training FLOPs per percentage point of "
                "exact accuracy; train s: training wall time. Copying the givens scores "
                f"{_copy_text(self.experiments)}.")

    def story(self, s, n: int) -> list:
        from reportlab.lib.units import cm
        from reportlab.platypus import CondPageBreak, KeepTogether, Paragraph, Spacer

        from ..report.pdf import FigureSet, bullets, table

        story = [Paragraph(f"{n} {self.title}", s["h1"]), Paragraph(f"{n}.1 Datasets", s["h2"]),
                 Paragraph("Each dataset is a folder in the TRM/HRM format (train/ and test/, each with "
                           "all__*.npy and dataset.json). A training group is an original puzzle followed by its "
                           "augmentations (digit relabelling, transposition, band/row and stack/column "
                           "permutations); the test split is not augmented. Givens: mean (min–max) per puzzle.",
                           s["body"]), Spacer(1, 6),
                 table(self.table, font_size=9), Spacer(1, 8), bullets(self.dataset_lines(), s["body"]),
                 Spacer(1, 14)]
        if not self.has_experiments:
            return story
        story += [Paragraph(f"{n}.2 Experiments by suite", s["h2"]), Paragraph(escape(self._intro()), s["body"]),
                  Spacer(1, 8)]
        if REFERENCE in set().union(*(suite_table(self.experiments, g).columns for g in self.groups())):
            story += [Paragraph(f"The column <b>{REFERENCE}</b> holds the exact accuracy a paper reported (its "
                                "source in the sentence below the table): a reference for scale, measured on the "
                                "paper's data with the paper's budget, not a result of this campaign.", s["body"]),
                      Spacer(1, 8)]
        for suite, sentences in self.suite_lines().items():
            story += [KeepTogether([Paragraph(f"<b>Suite {escape(suite)}</b>", s["body"]), Spacer(1, 4),
                                    table(suite_table(self.experiments, suite), font_size=8.5)]), Spacer(1, 6)]
            if sentences:
                story.append(bullets(sentences, s["body"]))
            story.append(Spacer(1, 12))
        curves = curve_table(self.histories, self.experiments)
        if len(curves):
            story += [Paragraph("Learning curves (each experiment's metrics.csv): the best test exact accuracy of "
                                "the evaluations during training, its step, and the last evaluation's.", s["body"]),
                      Spacer(1, 6), table(curves, font_size=9), Spacer(1, 14)]
        if len(self.scaling):
            story += [Paragraph(escape(self.scaling_note()), s["body"]), Spacer(1, 6),
                      table(self.scaling.drop(columns=["config"]), font_size=9), Spacer(1, 14)]
        if self.figures:
            story += [CondPageBreak(8 * cm), Paragraph(f"{n}.3 Figures", s["h2_alone"]),
                      FigureSet([(f.png, f.caption) for f in self.figures], s["caption"]), Spacer(1, 6)]
        return story

    def slides(self, prs) -> None:
        from pptx.util import Inches

        from ..report.slides import (BLANK as LAYOUT, BODY_TOP, BODY_W, MARGIN, SLIDE_H, add_bullets, add_table,
                                     add_title, figure_slides)

        slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT])
        add_title(slide, "Reasoning: the Sudoku datasets")
        shape = add_table(slide, self.table[["dataset", "board", "train puzzles", "train examples", "test puzzles",
                                             "givens (train)"]], MARGIN, BODY_TOP, BODY_W, size=14)
        top = BODY_TOP + shape.height + Inches(0.3)
        add_bullets(slide, MARGIN, top, BODY_W, Inches(7.0) - top, self.dataset_lines(), largest=18)
        if not self.has_experiments:
            return
        for suite, sentences in self.suite_lines().items():
            base = self.groups()[suite][0]
            slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT])
            add_title(slide, f"Reasoning: suite {suite} against {base}")
            frame = suite_table(self.experiments, suite).drop(columns=["steps", "q_halt", "train s"])
            shape = add_table(slide, frame, MARGIN, BODY_TOP, BODY_W, size=13 if len(frame.columns) <= 7 else 12)
            top = BODY_TOP + shape.height + Inches(0.25)
            if sentences and SLIDE_H - Inches(0.3) - top < Inches(1.5):  # a long suite: its sentences follow
                slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT])
                add_title(slide, f"Reasoning: suite {suite} against {base} (continued)")
                top = BODY_TOP
            if sentences:
                add_bullets(slide, MARGIN, top, BODY_W, SLIDE_H - Inches(0.3) - top, sentences, largest=18)
        if len(self.scaling):
            slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT])
            add_title(slide, "Reasoning: training throughput")
            shape = add_table(slide, self.scaling.drop(columns=["config"]), MARGIN, BODY_TOP, BODY_W, size=14)
            top = BODY_TOP + shape.height + Inches(0.3)
            add_bullets(slide, MARGIN, top, BODY_W, SLIDE_H - Inches(0.3) - top, [self.scaling_note()], largest=16)
        figure_slides(prs, "Reasoning", self.figures, FIGURE_TITLES)


def section(inputs: dict[str, list[str]], provenance: dict) -> Section:
    """From ``inputs["datasets"]`` (files inside each dataset folder, <dataset>/<split>/...),
    ``inputs["experiments"]`` (one path: results/reasoning/experiments.csv), ``inputs["metrics"]``
    (each experiment's metrics.csv, in results/reasoning/<experiment>/), ``inputs["figures"]``
    (PNGs, in report order), ``inputs["captions"]`` (a <figure>.rst per figure) and
    ``inputs["scaling"]`` (results/reasoning/scaling/scaling.csv). Without experiments the
    section shows the datasets alone."""
    from ..report import caption
    from ..report.pdf import Figure

    folders = list(dict.fromkeys(Path(p).parent.parent for p in inputs["datasets"]))
    files = inputs.get("experiments", [])
    if len(files) > 1:
        raise ResultsError(f"the reasoning section takes one experiments.csv, given {len(files)}: {', '.join(files)}")
    experiments = load_experiments(files[0]) if files else None
    histories = load_metrics(inputs.get("metrics", []), experiments) if files else {}
    figures = {Path(f).stem: Path(f) for f in inputs.get("figures", [])}
    captions = {Path(c).stem: caption(c) for c in inputs.get("captions", [])}
    missing = sorted(set(figures) - set(captions))
    if missing:
        raise ResultsError(f"no caption for figure(s) {', '.join(missing)}")
    scaling = inputs.get("scaling", [])
    return Section(dataset_table(folders), experiments, histories,
                   [Figure(name, png, captions[name]) for name, png in figures.items()],
                   scaling_rows(scaling[0]) if scaling else None)
