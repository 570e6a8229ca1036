"""The robustness study's section of the campaign report: its pages of the PDF and its
slides, every number computed from its result files (:class:`Results`)."""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from pptx.enum.text import PP_ALIGN
from pptx.util import Inches
from reportlab.lib.units import cm
from reportlab.platypus import CondPageBreak, Paragraph, Spacer

from ...config import format_eps
from ...report.pdf import Figure, FigureSet, bullets, table
from ...report.provenance import usage_commands
from ...report.slides import (BLANK, BODY_TOP, BODY_W, INK, MARGIN, MUTED, SLIDE_H, SLIDE_W, add_arrow, add_box,
                              add_bullets, add_picture, add_table, add_text, add_title, fitting_size)
from .results import DASH, Results, seeds_text

TITLE = "Robustness verification of tiny recursive models"
CELL_PATTERN = "results/robustness/sweep/<model>__seed<s>__<method>__eps<eps>.csv"


class Section:
    """What the campaign report asks of a study (see tinyscale.report): a title, facts for
    the title page, a line for the title slide, the PDF's pages and the slides."""

    title = TITLE

    def __init__(self, results: Results, figures: list[Figure], verified_figure: Path, scaling_figure: Path):
        self.c, self.figures = results, figures
        self.verified_figure, self.scaling_figure = verified_figure, scaling_figure

    def facts(self) -> list[tuple[str, str]]:
        c = self.c
        models = list(dict.fromkeys(c.checkpoints["model"]))
        training = dict(zip(c.checkpoints["model"], c.checkpoints["training"]))
        return [
            ("models", ", ".join(f"{m} ({training[m]})" for m in models)),
            *([("training seeds", f"training seeds {', '.join(map(str, c.seeds))}: a checkpoint per model and seed")]
              if c.several_seeds else []),
            ("data", f"{c.checkpoints['data'].iat[0]}, {c.samples} test samples per cell, {len(c.eps)} eps, "
                     f"{len(c.methods)} bounding methods"),
            ("eps grid", ", ".join(format_eps(e) for e in c.eps)),
            ("bounds", ", ".join(c.methods) + " (auto_LiRPA), after a PGD attack"),
        ]

    def one_line(self) -> str:
        c = self.c
        seeds = f"{len(c.seeds)} training seeds, " if c.several_seeds else ""
        return (f"{len(c.models)} models, {seeds}{c.samples} test samples per cell, {len(c.eps)} eps, "
                f"{len(c.methods)} bounding methods")

    def summary(self) -> list[str]:
        return self.c.summary()

    def story(self, s, n: int) -> list:
        rc = self.c
        story = [Paragraph(f"{n} {self.title}", s["h1"]), Paragraph(f"{n}.1 Summary", s["h2"])]
        story += [bullets(rc.summary(), s["body"]), Spacer(1, 10),
                  Paragraph(f"{n}.2 Models", s["h2"]), Paragraph(escape(_models_intro(rc)), s["body"]), Spacer(1, 6),
                  table(rc.checkpoint_table(), font_size=9.5, keep="model"), Spacer(1, 14),
                  CondPageBreak(8 * cm), Paragraph(f"{n}.3 Figures", s["h2_alone"])]
        story.append(FigureSet([(fig.png, " ".join(t for t in (fig.caption, rc.figure_note(fig.name)) if t))
                                for fig in self.figures], s["caption"]))
        story += [Spacer(1, 6), Paragraph(f"{n}.4 Results", s["h2"])]
        if rc.several_seeds:
            story += [Paragraph(f"Verified share (%) of every model, method and eps over the {len(rc.seeds)} training "
                                f"seeds ({seeds_text(rc.seeds)}): mean ± standard deviation (n {DASH} 1), min{DASH}max, "
                                "and each seed's value. The spread covers training randomness; every seed is verified "
                                f"on the same {rc.samples} samples.", s["body"]), Spacer(1, 6),
                      table(rc.seed_table()), Spacer(1, 14)]
        story += [Paragraph(f"Every sweep cell{' (a row per training seed)' if rc.several_seeds else ''}: verdict counts "
                            f"of the {rc.samples} samples, the verified share, the mean time per sample and the peak "
                            "memory of the cell (from results/robustness/sweep.csv). Misclassified samples are the "
                            "same in every cell of a checkpoint.", s["body"]), Spacer(1, 6), table(rc.results_table()),
                  Spacer(1, 14),
                  Paragraph(f"{n}.5 Scaling", s["h2"]),
                  Paragraph("Mean throughput of the repeated scaling runs (samples over the slowest rank's time), the "
                            f"lowest and highest repeat, their spread (highest / lowest {DASH} 1), the speed-up and "
                            "efficiency against the smallest run, and peak memory per process (from "
                            "results/robustness/scaling/scaling.csv). " + rc.scaling_flag_sentence().strip(), s["body"]),
                  Spacer(1, 6), table(rc.scaling_table(), font_size=9.5), Spacer(1, 14)]
        return story

    def slides(self, prs) -> None:
        for slide in (problem_slide, pipeline_slide):
            slide(prs, self.c)
        results_slide(prs, self.c, self.verified_figure)
        scaling_slide(prs, self.c, self.scaling_figure)
        conclusion_slide(prs, self.c)


def _models_intro(c: Results) -> str:
    attack = f"training's evaluation attack, {c.eval_attack}" if c.eval_attack else "training's evaluation attack"
    test = f"the {c.test_images} test images" if c.test_images else "the test split"
    seeds = (f" A row per model and training seed, then per model the mean ± standard deviation (n {DASH} 1) and "
             f"the min{DASH}max over its seeds (training randomness)." if c.several_seeds else "")
    return (f"Accuracies of the kept checkpoints on {test}: clean, and under {attack}. That attack is not the "
            f"sweep's: {c.sweep_attack} runs at each eps on the {c.samples} selected samples only. The adversarial "
            f"model keeps the epoch with the best PGD accuracy on a validation split.{seeds}")


# ---------------------------------------------------------------- the slides

def problem_slide(prs, c: Results) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    add_title(s, "The problem")
    training = dict(zip(c.checkpoints["model"], c.checkpoints["training"]))
    models = ", ".join(f"{m} ({training[m]} training)" for m in dict.fromkeys(c.checkpoints["model"]))
    lines = [
        "Can a small perturbation change the prediction? For each test image and radius eps, certify that "
        "no image in the L∞ box around it (clipped to [0, 1]) changes the predicted digit, or find one that does.",
        f"{len(c.models)} tiny recursive models (TRM-MLP): {models}"
        + (f", each trained with {len(c.seeds)} seeds ({', '.join(map(str, c.seeds))})." if c.several_seeds
           else "."),
        f"{c.samples} test samples of {c.checkpoints['data'].iat[0]}; eps in "
        f"{{{', '.join(format_eps(e) for e in c.eps)}}}.",
        f"{c.sweep_attack[0].upper()}{c.sweep_attack[1:]} looks for counterexamples first; auto_LiRPA bounds "
        f"the rest ({', '.join(c.methods)}).",
        "Before: hand-run scripts and numbers typed into slides. Now: one DAG of file targets, and every "
        "number on these slides is read from a result file.",
    ]
    add_bullets(s, MARGIN, BODY_TOP, BODY_W, SLIDE_H - BODY_TOP - Inches(0.5), lines)


def pipeline_slide(prs, c: Results) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    add_title(s, "The pipeline: one Snakemake DAG")
    checkpoints, n_eps = len(c.checkpoints), len(c.eps)
    steps = [("data", c.checkpoints["data"].iat[0]), ("train", f"{checkpoints} checkpoints"),
             ("attack", f"{checkpoints * n_eps} PGD runs"), ("verify", f"{len(c.sweep)} cells"),
             ("sweep.csv", f"{int(c.sweep['total'].sum())} verdicts"), ("report", "figures, PDF, slides")]
    gap, top, height = Inches(0.45), Inches(2.0), Inches(1.3)
    width = int((BODY_W - gap * (len(steps) - 1)) / len(steps))
    lefts = [MARGIN + i * (width + gap) for i in range(len(steps))]
    for left, (name, detail) in zip(lefts, steps):
        add_box(s, left, top, width, height, f"{name}\n{detail}")
    for left in lefts[:-1]:
        add_arrow(s, left + width + Inches(0.06), top + height // 2, left + width + gap - Inches(0.06), top + height // 2)
    # the scaling branch: runs from the checkpoints, into the report
    stop = top + height + Inches(1.0)
    runs = len(c.scaling_runs)
    scaling_left = lefts[2]
    add_box(s, scaling_left, stop, width * 2 + gap, height,
         f"scaling\n{runs} runs over {', '.join(c.scaling['devices'])}")
    add_box(s, lefts[4], stop, width, height, f"scaling.csv\n{len(c.scaling)} configurations")
    add_arrow(s, lefts[1] + width // 2, top + height + Inches(0.06), scaling_left - Inches(0.06), stop + height // 2)
    add_arrow(s, scaling_left + 2 * width + gap + Inches(0.06), stop + height // 2, lefts[4] - Inches(0.06),
           stop + height // 2)
    add_arrow(s, lefts[4] + width + Inches(0.06), stop + height // 2, lefts[5] + width // 2, top + height + Inches(0.06))
    add_text(s, MARGIN, Inches(6.1), BODY_W, Inches(0.9),
          ["  ·  ".join(usage_commands(c.provenance, CELL_PATTERN))], 15, colour=MUTED, align=PP_ALIGN.CENTER)


def results_slide(prs, c: Results, figure: Path) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    add_title(s, "Results: verified share against eps")
    pic = add_picture(s, figure, MARGIN, BODY_TOP, Inches(7.4 if c.several_seeds else 7.8), Inches(4.6))
    grid = c.verified_grid().set_index("model").T.reset_index()  # eps rows, model columns
    grid = grid.rename(columns={"index": "eps"})
    grid["eps"] = grid["eps"].str.removeprefix("eps ")
    left = MARGIN + pic.width + Inches(0.4)
    width = SLIDE_W - MARGIN - left
    label = f"verified share, {c.tightest}"
    if c.several_seeds:
        label += (f": mean ± std over training seeds {seeds_text(c.seeds)}, i.e. training randomness "
                  "(each seed's value below)")
    label_h = Inches(0.5) if not c.several_seeds else Inches(0.9)
    add_text(s, left, BODY_TOP, width, label_h, [label], fitting_size([label], width, label_h, 16, spacing=1.0),
          bold=True, colour=MUTED)
    size = 14 if len(grid) <= 8 and len(grid.columns) <= 4 else 12
    add_table(s, grid, left, BODY_TOP + label_h + Inches(0.05), width, size=size)
    head = c.headline()
    sentence = head.sentence() if head else c.summary()[0]
    add_text(s, MARGIN, Inches(6.2), BODY_W, Inches(1.05), [sentence],
          fitting_size([sentence], BODY_W, Inches(1.05), 18), colour=INK)


def scaling_slide(prs, c: Results, figure: Path) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    add_title(s, "Scaling one sweep cell over devices")
    table = c.scaling_table()[["devices", "processes", "samples / s", f"repeats min{DASH}max", "spread", "speed-up",
                               "efficiency", "peak MB / process"]]
    shape = add_table(s, table, MARGIN, BODY_TOP, BODY_W, size=14 if len(table) <= 4 else 12)
    note = ("Error bars and min–max: the slowest and the fastest of the repeated runs. "
            + c.scaling_flag_sentence()).strip()
    note_h = Inches(0.75)
    room = SLIDE_H - Inches(0.15) - note_h - Inches(0.1) - shape.height - Inches(0.2) - BODY_TOP
    pic = add_picture(s, figure, MARGIN, BODY_TOP, BODY_W, min(Inches(3.6), room))
    shape.top = BODY_TOP + pic.height + Inches(0.2)
    note_top = shape.top + shape.height + Inches(0.1)
    add_text(s, MARGIN, note_top, BODY_W, note_h, [note], fitting_size([note], BODY_W, note_h, 16), colour=MUTED)


def conclusion_slide(prs, c: Results) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    add_title(s, "Conclusion")
    add_bullets(s, MARGIN, BODY_TOP, BODY_W, SLIDE_H - BODY_TOP - Inches(0.5), c.summary(undecided=False),
             largest=20)
