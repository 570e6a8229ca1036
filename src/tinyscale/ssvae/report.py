"""The SSVAE study's report section (seed 004): how a semi-supervised VAE's test accuracy moves
with the number of labelled images, the share of them given a wrong label and the weight alpha
of its classification term, and how much of the digit its style latent carries. Read from the
study's result files (results/ssvae/):

- grid.csv: a row per training run (n_labels, corruption_rate, alpha, seed, its final test
  accuracy and ELBO, the three disentanglement scores, its labelled set, what ran it);
- summary.csv: per configuration (n_labels, corruption_rate, alpha), the mean and standard
  deviation over seeds of every score, and the count of seeds;
- scaling/scaling.csv: the training throughput runs.

summary.csv must be grid.csv's summary (the same configurations, seed counts and mean
accuracies): a stale one is an error naming both. Every number in a sentence or a table is read
from these files; the sentences state which way accuracy moves, whichever way that is.
"""
from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from ..errors import ResultsError
from ..report import one_file, read_csv, shared_cpu_note, throughput_rows, throughput_sentence
from .results import COLUMNS as GRID_COLUMNS
from .results import KEYS, SCORES

TITLE = "Label robustness of a semi-supervised VAE (seed 004)"
SUMMARY_COLUMNS = [*KEYS, "seeds", *[f"{s}_{k}" for s in SCORES for k in ("mean", "std")]]
DISENTANGLEMENT = {"beta_vae": "beta-VAE", "factor_vae": "Factor-VAE", "mig": "MIG"}
DASH = "\u2013"
PM = "\u00b1"


# ---------------------------------------------------------------- reading

def _numbers(table: pd.DataFrame, columns: list[str], path) -> None:
    """``columns`` hold a number in every row (else an error naming the file and the column)."""
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().argmax())
            raise ResultsError(f"{path}: column {column} has no number in row {row + 1} ({table[column].iat[row]!r})")
        table[column] = values


def load_grid(path: str | Path) -> pd.DataFrame:
    """grid.csv, checked (every column, one row per point), in the grid's order."""
    table = read_csv(path, GRID_COLUMNS)
    _numbers(table, [*KEYS, "seed", "final_test_accuracy", "corrupted", "epochs", "world_size", "seconds"], path)
    twice = table[table.duplicated([*KEYS, "seed"], keep=False)]
    if len(twice):
        r = twice.iloc[0]
        raise ResultsError(f"{path}: the point n_labels {int(r.n_labels)}, corruption {r.corruption_rate:g}, "
                           f"alpha {r.alpha:g}, seed {int(r.seed)} appears in more than one row")
    return table.sort_values([*KEYS, "seed"], kind="stable").reset_index(drop=True)


def load_summary(path: str | Path) -> pd.DataFrame:
    """summary.csv, checked (every column, one row per configuration), in the configurations' order."""
    table = read_csv(path, SUMMARY_COLUMNS)
    _numbers(table, [*KEYS, "seeds", "final_test_accuracy_mean"], path)
    if table.duplicated(KEYS).any():
        r = table[table.duplicated(KEYS)].iloc[0]
        raise ResultsError(f"{path}: the configuration n_labels {int(r.n_labels)}, corruption "
                           f"{r.corruption_rate:g}, alpha {r.alpha:g} appears in more than one row")
    table["n_labels"] = table["n_labels"].astype(int)
    table["seeds"] = table["seeds"].astype(int)
    return table.sort_values(KEYS, kind="stable").reset_index(drop=True)


def check_agreement(grid: pd.DataFrame, summary: pd.DataFrame, grid_path, summary_path) -> None:
    """summary.csv holds grid.csv's configurations, seed counts and mean accuracies."""
    counts = grid.groupby(KEYS).agg(runs=("seed", "size"), acc=("final_test_accuracy", "mean")).reset_index()
    both = counts.merge(summary, on=KEYS, how="outer", indicator=True)
    problems = []
    for side, name in (("left_only", "only in grid.csv"), ("right_only", "only in summary.csv")):
        rows = both[both["_merge"] == side]
        if len(rows):
            r = rows.iloc[0]
            problems.append(f"{len(rows)} configuration(s) {name}, e.g. n_labels {int(r.n_labels)}, corruption "
                            f"{r.corruption_rate:g}, alpha {r.alpha:g}")
    shared = both[both["_merge"] == "both"]
    wrong = shared[(shared["runs"] != shared["seeds"])
                   | ~np.isclose(shared["acc"], shared["final_test_accuracy_mean"], rtol=1e-6, atol=1e-9)]
    if len(wrong):
        r = wrong.iloc[0]
        problems.append(f"n_labels {int(r.n_labels)}, corruption {r.corruption_rate:g}, alpha {r.alpha:g}: "
                        f"{int(r.runs)} run(s) of mean accuracy {r.acc:.4f} in grid.csv, {int(r.seeds)} seed(s) of "
                        f"mean {r.final_test_accuracy_mean:.4f} in summary.csv")
    if problems:
        raise ResultsError(f"{summary_path}: not the summary of {grid_path} ({'; '.join(problems)}); "
                           "rebuild it from the grid")


def load_tables(grid_path: str | Path, summary_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """grid.csv and summary.csv, each checked, and checked against each other."""
    grid, summary = load_grid(grid_path), load_summary(summary_path)
    check_agreement(grid, summary, grid_path, summary_path)
    return grid, summary


# ---------------------------------------------------------------- the grid's slices

def clean_rate(summary: pd.DataFrame) -> float:
    """The corruption rate of the label sweep: 0 where the grid has it, else its lowest."""
    rates = summary["corruption_rate"]
    return 0.0 if (rates == 0).any() else float(rates.min())


def label_sweep(summary: pd.DataFrame) -> pd.DataFrame:
    """The configurations at :func:`clean_rate`, by alpha and n_labels."""
    rows = summary[summary["corruption_rate"] == clean_rate(summary)]
    return rows.sort_values(["alpha", "n_labels"], kind="stable").reset_index(drop=True)


def corruption_sweeps(summary: pd.DataFrame) -> list[tuple[float, int, pd.DataFrame]]:
    """(alpha, n_labels, its rows by corruption rate) for each pair run at more than one corruption rate."""
    out = []
    for (alpha, n), rows in summary.groupby(["alpha", "n_labels"], sort=True):
        if rows["corruption_rate"].nunique() > 1:
            out.append((float(alpha), int(n), rows.sort_values("corruption_rate").reset_index(drop=True)))
    return out


def corruption_alphas(summary: pd.DataFrame) -> list[float]:
    """Every alpha present with more than one corruption rate (the corruption slice's)."""
    return sorted({alpha for alpha, _, _ in corruption_sweeps(summary)})


def headline_alpha(summary: pd.DataFrame) -> float | None:
    """The alpha whose label sweep the sentences lead with: among the alphas run at more than one
    n_labels at :func:`clean_rate`, the first of the corruption slice's, else the largest."""
    sweep = label_sweep(summary)
    swept = sorted(a for a, rows in sweep.groupby("alpha") if len(rows) > 1)
    if not swept:
        return None
    chosen = [a for a in corruption_alphas(summary) if a in swept]
    return float(chosen[0] if chosen else swept[-1])


# ---------------------------------------------------------------- formatting

def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v, digits: int = 3) -> str:
    return DASH if _missing(v) else f"{float(v):.{digits}f}"


def _pm(mean, std, digits: int = 3) -> str:
    """mean ± std, the mean alone where there is no spread (one seed)."""
    return _num(mean, digits) if _missing(std) else f"{_num(mean, digits)} {PM} {_num(std, digits)}"


def _cell(row, score: str = "final_test_accuracy", digits: int = 3) -> str:
    return f"{_pm(row[f'{score}_mean'], row[f'{score}_std'], digits)} (n={int(row['seeds'])})"


def _change(d: float, digits: int = 3) -> str:
    text = f"{abs(d):.{digits}f}"
    return f"+{text}" if float(text) and d > 0 else (f"-{text}" if float(text) else f"{PM}{text}")


def _direction(d: float, digits: int = 3) -> str:
    """The verb for a change as printed (a change that rounds to 0 is no change)."""
    if not float(f"{abs(d):.{digits}f}"):
        return "stays at"
    return "rises" if d > 0 else "falls"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def _rate(c: float) -> str:
    return f"corruption {c:g}"


def _span(values, fmt=lambda v: f"{v:g}") -> str:
    values = sorted(set(values))
    return fmt(values[0]) if len(values) == 1 else f"{fmt(values[0])}{DASH}{fmt(values[-1])}"


def _seeds_text(counts) -> str:
    counts = sorted(set(int(c) for c in counts))
    if len(counts) == 1:
        return f"{_plural(counts[0], 'seed')} each"
    return f"{counts[0]}{DASH}{counts[-1]} seeds"


def _config(row) -> str:
    return f"{int(row['n_labels'])} labels, {_rate(row['corruption_rate'])}, alpha {row['alpha']:g}"


# ---------------------------------------------------------------- tables

def labels_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy at :func:`clean_rate`: a row per alpha, a column per n_labels (mean ± std (n=seeds))."""
    sweep = label_sweep(summary)
    labels = sorted(sweep["n_labels"].unique())
    rows = []
    for alpha, part in sweep.groupby("alpha", sort=True):
        by_n = part.set_index("n_labels")
        rows.append({"alpha": f"{alpha:g}", **{f"{n} labels": _cell(by_n.loc[n]) if n in by_n.index else DASH
                                               for n in labels}})
    return pd.DataFrame(rows)


def corruption_table(summary: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy by corruption rate: a row per rate, a column per (n_labels, alpha) run at several
    rates, each cell with the labels given a wrong class (from grid.csv; the mean over seeds)."""
    sweeps = corruption_sweeps(summary)
    if not sweeps:
        return pd.DataFrame()
    wrong = grid.groupby(KEYS)["corrupted"].mean()
    rates = sorted({float(c) for _, _, rows in sweeps for c in rows["corruption_rate"]})
    out = pd.DataFrame({"corruption": [f"{c:g}" for c in rates]})
    for alpha, n, rows in sweeps:
        by_c = rows.set_index("corruption_rate")
        out[f"{n} labels, alpha {alpha:g}"] = [
            f"{_cell(by_c.loc[c])}, {wrong[(n, c, alpha)]:g} wrong" if c in by_c.index else DASH for c in rates]
    return out


def configuration_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: its seeds, the style latent's three disentanglement scores and the test ELBO."""
    return pd.DataFrame({"labels": summary["n_labels"].astype(int),
                         "corruption": summary["corruption_rate"].map(lambda v: f"{v:g}"),
                         "alpha": summary["alpha"].map(lambda v: f"{v:g}"), "seeds": summary["seeds"].astype(int),
                         **{name: [_pm(r[f"{s}_mean"], r[f"{s}_std"]) for _, r in summary.iterrows()]
                            for s, name in DISENTANGLEMENT.items()},
                         "test ELBO": [_pm(r["final_test_elbo_mean"], r["final_test_elbo_std"], 1)
                                       for _, r in summary.iterrows()]})


def scaling_rows(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Training throughput per (nodes, processes) from scaling/scaling.csv (the core's table)."""
    rows, shared = throughput_rows(path, ("batch", "batch"))
    return rows.drop(columns="config"), shared


# ---------------------------------------------------------------- sentences

def scope_sentence(grid: pd.DataFrame, summary: pd.DataFrame) -> str:
    seeds = sorted(int(s) for s in grid["seed"].unique())
    listed = (f"{seeds[0]}{DASH}{seeds[-1]}" if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1))
              else ", ".join(map(str, seeds)))
    return (f"{_plural(len(grid), 'run')}: {_plural(len(summary), 'configuration')} of n_labels "
            f"({_span(summary['n_labels'], lambda v: str(int(v)))}), corruption rate "
            f"({_span(summary['corruption_rate'])}) and alpha ({_span(summary['alpha'])}), "
            f"{_seeds_text(summary['seeds'])} (seed{'s' if len(seeds) > 1 else ''} {listed}); "
            f"{', '.join(map(str, grid['dataset'].unique()))}, "
            f"{'/'.join(str(int(e)) for e in sorted(grid['epochs'].unique()))} epochs, "
            f"{'/'.join(map(str, grid['label_scheme'].unique()))} labelled sets.")


def _steps(rows: pd.DataFrame, key: str, name, d: float) -> str:
    """Whether the mean accuracy moves the same way as overall (``d``) at every step along ``key``."""
    acc = rows["final_test_accuracy_mean"].to_numpy(float)
    if len(rows) < 3 or not float(f"{abs(d):.3f}"):
        return ""
    against = [i for i in range(1, len(acc)) if round(acc[i] - acc[i - 1], 3) * np.sign(d) < 0]
    if not against:
        return ", at every step"
    i = against[0]
    verb = "falls" if d > 0 else "rises"
    return (f", though not at every step: it {verb} from {_num(acc[i - 1])} at {name(rows.iloc[i - 1][key])} "
            f"to {_num(acc[i])} at {name(rows.iloc[i][key])}")


def _labels_name(n) -> str:
    return f"{int(n)} labels"


def labels_sentence(summary: pd.DataFrame) -> str | None:
    """The headline alpha's accuracy from the fewest to the most labels, whichever way it moves."""
    alpha = headline_alpha(summary)
    if alpha is None:
        return None
    rows = label_sweep(summary)
    rows = rows[rows["alpha"] == alpha].reset_index(drop=True)
    a, b = rows.iloc[0], rows.iloc[-1]
    d = b.final_test_accuracy_mean - a.final_test_accuracy_mean
    c = clean_rate(summary)
    where = "without corruption" if c == 0 else f"at {_rate(c)}"
    return (f"At alpha {alpha:g} {where}, mean test accuracy {_direction(d)} from {_cell(a)} with "
            f"{int(a.n_labels)} labels to {_cell(b)} with {int(b.n_labels)} labels ({_change(d)})"
            f"{_steps(rows, 'n_labels', _labels_name, d)}.")


def other_alphas_sentence(summary: pd.DataFrame) -> str | None:
    """The other alphas' accuracy from their fewest to their most labels."""
    headline = headline_alpha(summary)
    parts = []
    for alpha, rows in label_sweep(summary).groupby("alpha", sort=True):
        if alpha == headline or len(rows) < 2:
            continue
        a, b = rows.iloc[0], rows.iloc[-1]
        d = b.final_test_accuracy_mean - a.final_test_accuracy_mean
        steps = _steps(rows.reset_index(drop=True), "n_labels", _labels_name, d)
        parts.append(f"alpha {alpha:g} {_num(a.final_test_accuracy_mean)} ({int(a.n_labels)} labels) to "
                     f"{_num(b.final_test_accuracy_mean)} ({int(b.n_labels)} labels), {_change(d)}"
                     + (", not at every step" if steps.startswith(", though") else ""))
    if not parts:
        return None
    return (f"At the other alpha{'s' if len(parts) > 1 else ''}, mean test accuracy from the fewest to the most "
            f"labels: {'; '.join(parts)}.")


def alpha_sentence(summary: pd.DataFrame) -> str | None:
    """Where the alphas differ most: the label count at which their mean accuracies are furthest apart."""
    best = None
    for n, rows in label_sweep(summary).groupby("n_labels", sort=True):
        if rows["alpha"].nunique() < 2:
            continue
        hi = rows.loc[rows["final_test_accuracy_mean"].idxmax()]
        lo = rows.loc[rows["final_test_accuracy_mean"].idxmin()]
        gap = hi.final_test_accuracy_mean - lo.final_test_accuracy_mean
        if best is None or gap > best[0]:
            best = (gap, int(n), hi, lo, rows["alpha"].nunique())
    if best is None:
        return None
    gap, n, hi, lo, k = best
    return (f"Between the alphas, mean test accuracy differs most with {n} labels: {_num(hi.final_test_accuracy_mean)} "
            f"at alpha {hi.alpha:g} against {_num(lo.final_test_accuracy_mean)} at alpha {lo.alpha:g} "
            f"({_num(gap)} apart, over {k} alphas).")


def corruption_sentences(summary: pd.DataFrame, grid: pd.DataFrame) -> list[str]:
    """Per (n_labels, alpha) run at several corruption rates: accuracy from the lowest rate to the highest."""
    wrong = grid.groupby(KEYS)["corrupted"].mean()
    out = []
    for alpha, n, rows in corruption_sweeps(summary):
        a, b = rows.iloc[0], rows.iloc[-1]
        d = b.final_test_accuracy_mean - a.final_test_accuracy_mean
        wrong_at = [f"{wrong[(n, c, alpha)]:g} at {'corruption ' if not i else ''}{c:g}"
                    for i, c in enumerate(c for c in rows["corruption_rate"] if c > 0)]
        told = f"; wrong labels (of {n}): {', '.join(wrong_at)}" if wrong_at else ""
        out.append(f"With {n} labels at alpha {alpha:g}, mean test accuracy {_direction(d)} from {_cell(a)} at "
                   f"{_rate(a.corruption_rate)} to {_cell(b)} at {_rate(b.corruption_rate)} ({_change(d)})"
                   f"{_steps(rows, 'corruption_rate', _rate, d)}{told}.")
    return out


def disentanglement_sentence(summary: pd.DataFrame) -> str:
    """The three scores at the headline alpha's fewest and most labels, and their range over the grid."""
    spans = ", ".join(f"{name} {_span(summary[f'{s}_mean'], _num)}" for s, name in DISENTANGLEMENT.items())
    text = f"The style latent's disentanglement scores (means over seeds) span {spans} over the configurations"
    alpha = headline_alpha(summary)
    if alpha is None:
        return text + "."
    rows = label_sweep(summary)
    rows = rows[rows["alpha"] == alpha]
    a, b = rows.iloc[0], rows.iloc[-1]
    moves = ", ".join(f"{name} {_num(a[f'{s}_mean'])} to {_num(b[f'{s}_mean'])}" for s, name in DISENTANGLEMENT.items())
    return text + f"; at alpha {alpha:g} from {int(a.n_labels)} to {int(b.n_labels)} labels: {moves}."


def extremes_sentence(summary: pd.DataFrame) -> str | None:
    if len(summary) < 2:
        return None
    hi = summary.loc[summary["final_test_accuracy_mean"].idxmax()]
    lo = summary.loc[summary["final_test_accuracy_mean"].idxmin()]
    hi_acc, lo_acc = (_pm(r.final_test_accuracy_mean, r.final_test_accuracy_std) for r in (hi, lo))
    return (f"The highest mean test accuracy is {hi_acc} at {_config(hi)} (n={int(hi.seeds)}); the lowest {lo_acc} "
            f"at {_config(lo)} (n={int(lo.seeds)}).")


def time_sentence(grid: pd.DataFrame, scaling: pd.DataFrame) -> str:
    seconds = grid["seconds"].astype(float)
    ran = "; ".join(f"{d}, {_plural(int(w), 'process', 'processes')}"
                    for d, w in grid[["device", "world_size"]].drop_duplicates().itertuples(index=False))
    text = (f"A run trained in {seconds.mean():,.1f} s on average ({seconds.min():,.1f}{DASH}{seconds.max():,.1f} s; "
            f"{ran}).")
    return text + throughput_sentence(scaling)


# ---------------------------------------------------------------- the section

# the slides' titles, after "SSVAE: "
FIGURE_TITLES = {"accuracy_vs_labels": "accuracy against the number of labels",
                 "accuracy_vs_corruption": "accuracy against label corruption",
                 "disentanglement": "disentanglement of the style latent"}
SUMMARY_PT = 16  # the smallest size the summary's bullets take on a slide before they continue on the next


class Section:
    """The campaign report's section (see tinyscale.report)."""

    title = TITLE

    def __init__(self, grid: pd.DataFrame, summary: pd.DataFrame,
                 scaling: tuple[pd.DataFrame, list[str]] | None = None, figures: list | None = None):
        self.grid, self.s = grid, summary
        self.scaling, self.shared = scaling if scaling is not None else (pd.DataFrame(), [])
        self.figures = figures or []

    def facts(self) -> list[tuple[str, str]]:
        s, g = self.s, self.grid
        return [("ssvae grid", f"{_plural(len(g), 'run')}: {_plural(len(s), 'configuration')} x "
                               f"{_seeds_text(s['seeds'])}; n_labels {_span(s['n_labels'], lambda v: str(int(v)))}, "
                               f"corruption {_span(s['corruption_rate'])}, alpha {_span(s['alpha'])}"),
                ("ssvae training", f"{', '.join(map(str, g['dataset'].unique()))}, "
                                   f"{'/'.join(str(int(e)) for e in sorted(g['epochs'].unique()))} epochs, "
                                   f"{'/'.join(map(str, g['label_scheme'].unique()))} labelled sets")]

    def one_line(self) -> str:
        line = (f"a semi-supervised VAE over {_plural(len(self.s), 'configuration')} "
                f"({_seeds_text(self.s['seeds'])})")
        alpha = headline_alpha(self.s)
        if alpha is None:
            hi = self.s.loc[self.s["final_test_accuracy_mean"].idxmax()]
            return line + f"; highest mean test accuracy {_num(hi.final_test_accuracy_mean)} ({_config(hi)})"
        rows = label_sweep(self.s)
        rows = rows[rows["alpha"] == alpha]
        a, b = rows.iloc[0], rows.iloc[-1]
        return line + (f"; at alpha {alpha:g} mean test accuracy {_num(a.final_test_accuracy_mean)} with "
                       f"{int(a.n_labels)} labels, {_num(b.final_test_accuracy_mean)} with {int(b.n_labels)}")

    def summary(self) -> list[str]:
        lines = [scope_sentence(self.grid, self.s), labels_sentence(self.s), other_alphas_sentence(self.s),
                 alpha_sentence(self.s), *corruption_sentences(self.s, self.grid), disentanglement_sentence(self.s),
                 extremes_sentence(self.s), time_sentence(self.grid, self.scaling)]
        return [line for line in lines if line]

    def scaling_note(self) -> str:
        note = ("Training throughput of one grid point under DDP (results/ssvae/scaling/scaling.csv): images/s is "
                "the training images of a pass over the slowest rank's time, the mean of the repeats; speed-up and "
                "efficiency are against the smallest world size; memory is the largest peak of a process (resident "
                "set on the CPU, CUDA allocation on a GPU).")
        return note + shared_cpu_note(self.shared)

    def labels_note(self) -> str:
        c = clean_rate(self.s)
        return (f"Final test accuracy at corruption {c:g} (summary.csv), a row per alpha and a column per number of "
                "labelled images: the mean " + PM + " the standard deviation over seeds (n: the seeds; one seed has "
                "no spread).")

    CORRUPTION_NOTE = ("Final test accuracy by the share of the labelled images given a uniformly chosen wrong class, "
                       "for each (labels, alpha) run at more than one rate: mean " + PM + " standard deviation over "
                       "seeds (n: the seeds), and how many labels were wrong (grid.csv's corrupted, the mean over "
                       "seeds).")
    CONFIGURATION_NOTE = ("Per configuration (summary.csv), mean " + PM + " standard deviation over seeds: how much "
                          "of the digit the style latent carries on the first test images, by the beta-VAE score "
                          "(the best single dimension's logistic-regression accuracy, 0: chance, 1: perfect), the "
                          "Factor-VAE score (between-class over within-class variance, averaged over the "
                          "dimensions) and MIG (nats); lower values mean less of the digit in the style. And the "
                          "final test ELBO.")

    def story(self, st, n: int) -> list:
        from reportlab.platypus import Paragraph, Spacer

        from ..report.pdf import bullets, closing_parts, table

        story = [Paragraph(f"{n} {escape(self.title)}", st["h1"]), Paragraph(f"{n}.1 Summary", st["h2"]),
                 bullets(self.summary(), st["body"]), Spacer(1, 10),
                 Paragraph(f"{n}.2 Test accuracy", st["h2"]), Paragraph(escape(self.labels_note()), st["body"]),
                 Spacer(1, 6), table(labels_table(self.s), font_size=9), Spacer(1, 10)]
        corruption = corruption_table(self.s, self.grid)
        if len(corruption):
            story += [Paragraph(escape(self.CORRUPTION_NOTE), st["body"]), Spacer(1, 6),
                      table(corruption, font_size=9), Spacer(1, 10)]
        story += [Paragraph(f"{n}.3 Disentanglement per configuration", st["h2"]),
                  Paragraph(escape(self.CONFIGURATION_NOTE), st["body"]), Spacer(1, 6),
                  table(configuration_table(self.s), font_size=9), Spacer(1, 14)]
        return story + closing_parts(n, 4, self.scaling, self.scaling_note() if len(self.scaling) else "",
                                     self.figures, st)

    def slides(self, prs) -> None:
        from pptx.util import Inches

        from ..report.slides import (BLANK, BODY_TOP, BODY_W, MARGIN, MUTED, SLIDE_H, add_bullets, add_table,
                                     add_text, add_title, figure_slides, fitting_size)

        bottom = SLIDE_H - Inches(0.3)

        def slide(heading: str):
            s = prs.slides.add_slide(prs.slide_layouts[BLANK])
            add_title(s, heading)
            return s

        def table_slides(heading: str, frame: pd.DataFrame, note: str | None = None) -> None:
            """``frame`` on as many slides as it needs (as many rows on each as fit, by add_table's
            estimate of their heights), the note under its last part where it fits."""
            size = 14 if len(frame) <= 6 and len(frame.columns) <= 6 else 12
            start, part = 0, 0
            while start < len(frame):
                s = slide(heading + (" (continued)" if part else ""))
                rows = len(frame) - start
                while True:
                    shape = add_table(s, frame.iloc[start:start + rows], MARGIN, BODY_TOP, BODY_W, size=size)
                    if BODY_TOP + shape.height <= bottom or rows == 1:
                        break
                    shape._element.getparent().remove(shape._element)  # too tall: one row fewer
                    rows -= 1
                start, part = start + rows, part + 1
            top = BODY_TOP + shape.height + Inches(0.25)
            if note:
                if bottom - top < Inches(1.0):
                    s, top = slide(heading + " (continued)"), BODY_TOP
                add_text(s, MARGIN, top, BODY_W, bottom - top, [note], fitting_size([note], BODY_W, bottom - top, 16),
                         colour=MUTED)

        def bullet_slides(heading: str, lines: list[str]) -> None:
            """The bullets on as many slides as keep them at SUMMARY_PT or larger, in order."""
            height, width = bottom - BODY_TOP, BODY_W - Inches(0.4)
            chunks: list[list[str]] = []
            for line in lines:
                if chunks and fitting_size(chunks[-1] + [line], width, height, SUMMARY_PT,
                                           smallest=SUMMARY_PT - 1, gap_pt=10) >= SUMMARY_PT:
                    chunks[-1].append(line)
                else:
                    chunks.append([line])
            for i, chunk in enumerate(chunks):
                add_bullets(slide(heading + (" (continued)" if i else "")), MARGIN, BODY_TOP, BODY_W, height, chunk,
                            largest=20)

        bullet_slides("SSVAE: summary", self.summary())
        table_slides("SSVAE: accuracy against labels", labels_table(self.s), self.labels_note())
        corruption = corruption_table(self.s, self.grid)
        if len(corruption):
            table_slides("SSVAE: accuracy against corruption", corruption, self.CORRUPTION_NOTE)
        table_slides("SSVAE: disentanglement per configuration", configuration_table(self.s), self.CONFIGURATION_NOTE)
        if len(self.scaling):
            table_slides("SSVAE: training throughput", self.scaling, self.scaling_note())
        figure_slides(prs, "SSVAE", self.figures, FIGURE_TITLES)


def section(inputs: dict[str, list[str]], provenance: dict) -> Section:
    """From ``inputs`` (as rules/ssvae.smk gives them): "grid" and "summary" (one path each),
    "scaling" (scaling/scaling.csv; none where the study ran no scaling runs), "figures" (PNGs,
    in report order) and "captions" (a <figure>.rst per figure)."""
    from ..report import caption
    from ..report.pdf import Figure

    figures = {Path(f).stem: Path(f) for f in inputs.get("figures", [])}
    captions = {Path(c).stem: caption(c) for c in inputs.get("captions", [])}
    missing = sorted(set(figures) - set(captions))
    if missing:
        raise ResultsError(f"no caption for figure(s) {', '.join(missing)}")
    grid, summary = load_tables(one_file(inputs, "grid", "ssvae"), one_file(inputs, "summary", "ssvae"))
    scaling = one_file(inputs, "scaling", "ssvae", required=False)
    return Section(grid, summary, scaling_rows(scaling) if scaling else None,
                   [Figure(name, png, captions[name]) for name, png in figures.items()])
