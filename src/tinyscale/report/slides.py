"""The campaign's slide deck (python-pptx, 16:9): a title slide, then each study's
slides. Every number on it comes from the result files. The parts a study's slides
are made of (text that fits its box, bullets, tables, pictures, boxes and arrows)
are here, for every study."""
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


def add_text(slide, left, top, width, height, paragraphs: list[str], size: float, bold=False, colour=INK,
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


def add_title(slide, heading: str) -> None:
    add_text(slide, MARGIN, Inches(0.35), BODY_W, TITLE_H, [heading], 32, bold=True, colour=ACCENT,
          anchor=MSO_ANCHOR.MIDDLE)


def add_bullets(slide, left, top, width, height, lines: list[str], largest: float = 22):
    size = fitting_size(lines, width - Inches(0.4), height, largest, gap_pt=10)
    return add_text(slide, left, top, width, height, lines, size, bullets=True, gap_pt=10)


def add_picture(slide, png: Path, left, top, max_w, max_h):
    with PILImage.open(png) as im:
        w, h = im.size
    scale = min(max_w / w, max_h / h)
    return slide.shapes.add_picture(str(png), left, top, int(w * scale), int(h * scale))


def add_table(slide, frame: pd.DataFrame, left, top, width, size: float = 14, second_size: float | None = None):
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


def add_box(slide, left, top, width, height, label: str, size: float = 15):
    shape = slide.shapes.add_shape(MSO_SHAPE.ROUNDED_RECTANGLE, left, top, width, height)
    shape.fill.solid()
    shape.fill.fore_color.rgb = PALE
    shape.line.color.rgb = ACCENT
    frame = shape.text_frame
    frame.word_wrap = True
    frame.vertical_anchor = MSO_ANCHOR.MIDDLE
    for i, line in enumerate(label.split("\n")):
        p = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        p.alignment = PP_ALIGN.CENTER
        run = p.add_run()
        run.text = line
        run.font.size = Pt(size if i == 0 else size - 3)
        run.font.bold = i == 0
        run.font.color.rgb = INK if i == 0 else MUTED
    return shape


def add_arrow(slide, x1, y1, x2, y2) -> None:
    line = slide.shapes.add_connector(MSO_CONNECTOR.STRAIGHT, x1, y1, x2, y2)
    line.line.color.rgb = ACCENT
    line.line.width = Pt(2)
    line.line._get_or_add_ln().append(line.line._get_or_add_ln().makeelement(qn("a:tailEnd"), {"type": "triangle"}))


# ---------------------------------------------------------------- the deck

def title_slide(prs, heading: str, sections: list, p: dict) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    add_text(s, MARGIN, Inches(2.0), BODY_W, Inches(1.5), [heading], 40, bold=True, colour=ACCENT,
         align=PP_ALIGN.CENTER, anchor=MSO_ANCHOR.MIDDLE)
    lines = [f"tinyscale campaign '{p['config_name']}': {section.one_line()}" for section in sections]
    add_text(s, MARGIN, Inches(3.6), BODY_W, Inches(1.6), lines, fitting_size(lines, BODY_W, Inches(1.6), 22),
         colour=INK, align=PP_ALIGN.CENTER)
    add_text(s, MARGIN, Inches(5.6), BODY_W, Inches(0.9),
         [f"{p['date']}  ·  commit {p['git']['commit'][:12]}  ·  config sha256 {p['config_sha256'][:12]}",
          f"generated by `{p['command']}` from the result files"], 14, colour=MUTED, align=PP_ALIGN.CENTER)


def build(sections: list, provenance: dict, out: str | Path) -> None:
    """The deck: the title slide, then each section's slides (``section.slides(prs)``)."""
    from .pdf import title

    prs = Presentation()
    prs.slide_width, prs.slide_height = SLIDE_W, SLIDE_H
    heading = title(sections, provenance)
    prs.core_properties.title = heading
    prs.core_properties.author = "tinyscale"
    title_slide(prs, heading, sections, provenance)
    for section in sections:
        section.slides(prs)
    with io.atomic_path(out) as tmp:
        prs.save(str(tmp))


def figure_slide(prs, heading: str, png: Path, caption: str) -> None:
    """A slide of one figure, centred under its heading, with its caption below."""
    s = prs.slides.add_slide(prs.slide_layouts[BLANK])
    add_title(s, heading)
    note_h = Inches(1.0)
    pic = add_picture(s, png, MARGIN, BODY_TOP, BODY_W, SLIDE_H - BODY_TOP - note_h - Inches(0.3))
    pic.left = int(MARGIN + (BODY_W - pic.width) / 2)
    add_text(s, MARGIN, BODY_TOP + pic.height + Inches(0.1), BODY_W, note_h, [caption],
             fitting_size([caption], BODY_W, note_h, 16), colour=MUTED)


def figure_slides(prs, study: str, figures, titles: dict[str, str]) -> None:
    """A :func:`figure_slide` per figure (a tinyscale.report.pdf.Figure), headed "<study>: <title>"
    (``titles`` by figure name; else the name in words)."""
    for figure in figures:
        figure_slide(prs, f"{study}: {titles.get(figure.name, figure.name.replace('_', ' '))}", figure.png,
                     figure.caption)
