"""The slide deck (python-pptx, 16:9): title, problem, pipeline, results, scaling,
conclusion. Every number on it comes from the campaign's result files."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from PIL import Image as PILImage
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_CONNECTOR, MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Inches, Pt

from .. import io
from ..config import format_eps
from .provenance import usage_commands
from .results import DASH, Campaign, seeds_text

SLIDE_W, SLIDE_H = Inches(13.333), Inches(7.5)
MARGIN = Inches(0.6)
TITLE_H = Inches(1.0)
BODY_TOP = Inches(1.45)
BODY_W = SLIDE_W - 2 * MARGIN
INK = RGBColor(0x22, 0x22, 0x22)
ACCENT = RGBColor(0x1F, 0x4E, 0x79)
PALE = RGBColor(0xE8, 0xEE, 0xF4)
MUTED = RGBColor(0x59, 0x59, 0x59)
BLANK = 6  # the default template's blank layout


def estimated_lines(text: str, size_pt: float, width: Emu) -> int:
    """Lines a paragraph wraps to: a conservative 0.6 em per character (wide enough for
    the fonts LibreOffice substitutes for Calibri)."""
    per_line = max(1, int(Emu(width).pt / (0.6 * size_pt)))
    return sum(max(1, math.ceil(len(part) / per_line)) for part in text.split("\n"))


def fitting_size(paragraphs: list[str], width: Emu, height: Emu, largest: float, smallest: float = 12,
                 spacing: float = 1.2, gap_pt: float = 8) -> float:
    """The largest font size (pt) at which the paragraphs fit the box, by the estimate above."""
    size = largest
    while size > smallest:
        lines = sum(estimated_lines(p, size, width) for p in paragraphs)
        if lines * size * spacing + gap_pt * (len(paragraphs) - 1) <= Emu(height).pt * 0.92:
            break
        size -= 1
    return size


def _text(slide, left, top, width, height, paragraphs: list[str], size: float, bold=False, colour=INK,
          align=PP_ALIGN.LEFT, bullets=False, anchor=MSO_ANCHOR.TOP, gap_pt: float = 8):
    box = slide.shapes.add_textbox(left, top, width, height)
    frame = box.text_frame
    frame.word_wrap = True
    frame.vertical_anchor = anchor
    frame.margin_left = frame.margin_right = Inches(0.05)
    for i, text in enumerate(paragraphs):
        p = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        p.alignment = align
        if i:
            p.space_before = Pt(gap_pt)
        if bullets:
            _bullet(p)
        run = p.add_run()
        run.text = text
        run.font.size = Pt(size)
        run.font.bold = bold
        run.font.color.rgb = colour
    return box


def _bullet(paragraph) -> None:
    """A round bullet with a hanging indent (text boxes have none by default)."""
    ppr = paragraph._p.get_or_add_pPr()
    ppr.set("marL", str(Inches(0.3)))
    ppr.set("indent", str(-Inches(0.3)))
    char = ppr.makeelement(qn("a:buChar"), {"char": "•"})
    ppr.append(char)


def _title(slide, text: str) -> None:
    _text(slide, MARGIN, Inches(0.35), BODY_W, TITLE_H, [text], 32, bold=True, colour=ACCENT,
          anchor=MSO_ANCHOR.MIDDLE)


def _bullets(slide, left, top, width, height, lines: list[str], largest: float = 22):
    size = fitting_size(lines, width - Inches(0.4), height, largest, gap_pt=10)
    return _text(slide, left, top, width, height, lines, size, bullets=True, gap_pt=10)


def _picture(slide, png: Path, left, top, max_w, max_h):
    with PILImage.open(png) as im:
        w, h = im.size
    scale = min(max_w / w, max_h / h)
    return slide.shapes.add_picture(str(png), left, top, int(w * scale), int(h * scale))


def _table(slide, frame: pd.DataFrame, left, top, width, size: float = 14, second_size: float | None = None):
    """A table of equal columns; a value with a line break gets a second, smaller line
    (``second_size``). Each row is as tall as its longest cell wraps to (by the estimate above)."""
    rows, cols = len(frame) + 1, len(frame.columns)
    values = [list(frame.columns)] + frame.astype(str).values.tolist()
    second_size = second_size or max(12, size - 2)
    col_w = int(width / cols)
    text_w = col_w - Inches(0.2)  # the cell's side margins

    def height(row) -> int:
        lines = [sum(estimated_lines(part, size if k == 0 else second_size, text_w) * (size if k == 0 else second_size)
                     for k, part in enumerate(str(v).split("\n"))) for v in row]
        return int(Pt(max(lines) * 1.25 + 0.75 * size))

    heights = [height(row) for row in values]
    shape = slide.shapes.add_table(rows, cols, left, top, width, sum(heights))
    table = shape.table
    for j in range(cols):
        table.columns[j].width = col_w
    for i, row in enumerate(values):
        table.rows[i].height = heights[i]
        for j, value in enumerate(row):
            cell = table.cell(i, j)
            cell.margin_top = cell.margin_bottom = Inches(0.03)
            cell.vertical_anchor = MSO_ANCHOR.MIDDLE
            for k, text in enumerate(str(value).split("\n")):
                para = cell.text_frame.paragraphs[0] if k == 0 else cell.text_frame.add_paragraph()
                para.alignment = PP_ALIGN.LEFT if j == 0 else PP_ALIGN.RIGHT
                run = para.add_run()
                run.text = text
                run.font.size = Pt(size if k == 0 else second_size)
                run.font.bold = i == 0
                run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF) if i == 0 else (INK if k == 0 else MUTED)
    shape.height = sum(heights)
    return shape


def _box(slide, left, top, width, height, text: str, size: float = 15):
    shape = slide.shapes.add_shape(MSO_SHAPE.ROUNDED_RECTANGLE, left, top, width, height)
    shape.fill.solid()
    shape.fill.fore_color.rgb = PALE
    shape.line.color.rgb = ACCENT
    frame = shape.text_frame
    frame.word_wrap = True
    frame.vertical_anchor = MSO_ANCHOR.MIDDLE
    for i, line in enumerate(text.split("\n")):
        p = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        p.alignment = PP_ALIGN.CENTER
        run = p.add_run()
        run.text = line
        run.font.size = Pt(size if i == 0 else size - 3)
        run.font.bold = i == 0
        run.font.color.rgb = INK if i == 0 else MUTED
    return shape


def _arrow(slide, x1, y1, x2, y2) -> None:
    line = slide.shapes.add_connector(MSO_CONNECTOR.STRAIGHT, x1, y1, x2, y2)
    line.line.color.rgb = ACCENT
    line.line.width = Pt(2)
    line.line._get_or_add_ln().append(line.line._get_or_add_ln().makeelement(qn("a:tailEnd"), {"type": "triangle"}))


# ---------------------------------------------------------------- the six slides

def title_slide(prs, c: Campaign) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    p = c.provenance
    _text(s, MARGIN, Inches(2.0), BODY_W, Inches(1.5), ["Robustness verification of tiny recursive models"], 40,
          bold=True, colour=ACCENT, align=PP_ALIGN.CENTER, anchor=MSO_ANCHOR.MIDDLE)
    seeds = f"{len(c.seeds)} training seeds, " if c.several_seeds else ""
    line = (f"tinyscale campaign '{p['config_name']}': {len(c.models)} models, {seeds}{c.samples} test samples "
            f"per cell, {len(c.eps)} eps, {len(c.methods)} bounding methods")
    _text(s, MARGIN, Inches(3.6), BODY_W, Inches(1.0), [line], fitting_size([line], BODY_W, Inches(1.0), 22),
          colour=INK, align=PP_ALIGN.CENTER)
    _text(s, MARGIN, Inches(5.6), BODY_W, Inches(0.9),
          [f"{p['date']}  ·  commit {p['git']['commit'][:12]}  ·  config sha256 {p['config_sha256'][:12]}",
           f"generated by `{c.provenance['command']}` from the result files"], 14, colour=MUTED, align=PP_ALIGN.CENTER)


def problem_slide(prs, c: Campaign) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    _title(s, "The problem")
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
    _bullets(s, MARGIN, BODY_TOP, BODY_W, SLIDE_H - BODY_TOP - Inches(0.5), lines)


def pipeline_slide(prs, c: Campaign) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    _title(s, "The pipeline: one Snakemake DAG")
    checkpoints, n_eps = len(c.checkpoints), len(c.eps)
    steps = [("data", c.checkpoints["data"].iat[0]), ("train", f"{checkpoints} checkpoints"),
             ("attack", f"{checkpoints * n_eps} PGD runs"), ("verify", f"{len(c.sweep)} cells"),
             ("sweep.csv", f"{int(c.sweep['total'].sum())} verdicts"), ("report", "figures, PDF, slides")]
    gap, top, height = Inches(0.45), Inches(2.0), Inches(1.3)
    width = int((BODY_W - gap * (len(steps) - 1)) / len(steps))
    lefts = [MARGIN + i * (width + gap) for i in range(len(steps))]
    for left, (name, detail) in zip(lefts, steps):
        _box(s, left, top, width, height, f"{name}\n{detail}")
    for left in lefts[:-1]:
        _arrow(s, left + width + Inches(0.06), top + height // 2, left + width + gap - Inches(0.06), top + height // 2)
    # the scaling branch: runs from the checkpoints, into the report
    stop = top + height + Inches(1.0)
    runs = len(c.scaling_runs)
    scaling_left = lefts[2]
    _box(s, scaling_left, stop, width * 2 + gap, height,
         f"scaling\n{runs} runs over {', '.join(c.scaling['devices'])}")
    _box(s, lefts[4], stop, width, height, f"scaling.csv\n{len(c.scaling)} configurations")
    _arrow(s, lefts[1] + width // 2, top + height + Inches(0.06), scaling_left - Inches(0.06), stop + height // 2)
    _arrow(s, scaling_left + 2 * width + gap + Inches(0.06), stop + height // 2, lefts[4] - Inches(0.06),
           stop + height // 2)
    _arrow(s, lefts[4] + width + Inches(0.06), stop + height // 2, lefts[5] + width // 2, top + height + Inches(0.06))
    _text(s, MARGIN, Inches(6.1), BODY_W, Inches(0.9),
          ["  ·  ".join(usage_commands(c.provenance))], 15, colour=MUTED, align=PP_ALIGN.CENTER)


def results_slide(prs, c: Campaign, figure: Path) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    _title(s, "Results: verified share against eps")
    pic = _picture(s, figure, MARGIN, BODY_TOP, Inches(7.4 if c.several_seeds else 7.8), Inches(4.6))
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
    _text(s, left, BODY_TOP, width, label_h, [label], fitting_size([label], width, label_h, 16, spacing=1.0),
          bold=True, colour=MUTED)
    size = 14 if len(grid) <= 8 and len(grid.columns) <= 4 else 12
    _table(s, grid, left, BODY_TOP + label_h + Inches(0.05), width, size=size)
    head = c.headline()
    sentence = head.sentence() if head else c.summary()[0]
    _text(s, MARGIN, Inches(6.2), BODY_W, Inches(1.05), [sentence],
          fitting_size([sentence], BODY_W, Inches(1.05), 18), colour=INK)


def scaling_slide(prs, c: Campaign, figure: Path) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    _title(s, "Scaling one sweep cell over devices")
    table = c.scaling_table()[["devices", "processes", "samples / s", f"repeats min{DASH}max", "spread", "speed-up",
                               "efficiency", "peak MB / process"]]
    shape = _table(s, table, MARGIN, BODY_TOP, BODY_W, size=14 if len(table) <= 4 else 12)
    note = ("Error bars and min–max: the slowest and the fastest of the repeated runs. "
            + c.scaling_flag_sentence()).strip()
    note_h = Inches(0.75)
    room = SLIDE_H - Inches(0.15) - note_h - Inches(0.1) - shape.height - Inches(0.2) - BODY_TOP
    pic = _picture(s, figure, MARGIN, BODY_TOP, BODY_W, min(Inches(3.6), room))
    shape.top = BODY_TOP + pic.height + Inches(0.2)
    note_top = shape.top + shape.height + Inches(0.1)
    _text(s, MARGIN, note_top, BODY_W, note_h, [note], fitting_size([note], BODY_W, note_h, 16), colour=MUTED)


def conclusion_slide(prs, c: Campaign) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    _title(s, "Conclusion")
    _bullets(s, MARGIN, BODY_TOP, BODY_W, SLIDE_H - BODY_TOP - Inches(0.5), c.summary(undecided=False),
             largest=20)


def build(c: Campaign, verified_figure: Path, scaling_figure: Path, out: str | Path) -> None:
    prs = Presentation()
    prs.slide_width, prs.slide_height = SLIDE_W, SLIDE_H
    prs.core_properties.title = "Robustness verification of tiny recursive models"
    prs.core_properties.author = "tinyscale"
    title_slide(prs, c)
    problem_slide(prs, c)
    pipeline_slide(prs, c)
    results_slide(prs, c, verified_figure)
    scaling_slide(prs, c, scaling_figure)
    conclusion_slide(prs, c)
    with io.atomic_path(out) as tmp:
        prs.save(str(tmp))
