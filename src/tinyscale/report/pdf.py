"""The campaign's PDF (reportlab): a title page, each study's section (its own
figures, tables and sentences, computed from its result files), and where it all
came from. The parts a section is made of (styles, tables, figures that fill the
pages, bullet lists) are here, for every study."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (CondPageBreak, Flowable, Image, ListFlowable, ListItem, LongTable, PageBreak,
                                Paragraph, SimpleDocTemplate, Spacer, TableStyle)

from .. import io
from . import FIGURE_DPI

WIDTH = A4[0] - 4 * cm  # text width between 2 cm margins
GRID = colors.HexColor("#c8c8c8")
HEADER = colors.HexColor("#e8eef4")


@dataclass(frozen=True)
class Figure:
    name: str
    png: Path
    caption: str


def styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontSize=10.5, leading=14)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontSize=24, leading=30, spaceAfter=12),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=14, leading=18, alignment=1, spaceAfter=24),
        "h1": ParagraphStyle("h1", parent=base["Heading1"], fontSize=16, spaceBefore=6, spaceAfter=8,
                             keepWithNext=1),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=13.5, spaceBefore=6, spaceAfter=6,
                             keepWithNext=1),
        "h2_alone": ParagraphStyle("h2_alone", parent=base["Heading2"], fontSize=13.5, spaceBefore=6, spaceAfter=6),
        "body": body,
        "caption": ParagraphStyle("caption", parent=body, fontSize=9.5, leading=12.5, spaceBefore=4, spaceAfter=14,
                                  textColor=colors.HexColor("#333333")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=11.5),
        "facts": ParagraphStyle("facts", parent=body, fontSize=11, leading=14),
        "mono": ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=8, leading=10, wordWrap="CJK"),
    }


def _natural_widths(data: list[list[str]], font_size: float, padding: float = 8) -> list[float]:
    return [max(stringWidth(str(row[j]), "Helvetica-Bold", font_size) for row in data) + padding
            for j in range(len(data[0]))]


def _widths(data: list[list[str]], font_size: float) -> list[float]:
    """Column widths that fit each column's widest entry, shrunk as a whole to the text width."""
    widths = _natural_widths(data, font_size)
    scale = min(1.0, WIDTH / sum(widths))
    return [w * scale for w in widths]


def table(frame: pd.DataFrame, font_size: float = 8.5, smallest: float = 7.0, keep: str | None = None) -> LongTable:
    """A table that fits the text width (its font made smaller, down to ``smallest``, where its
    entries are wider) and repeats its header on every page it runs over; rows with the same
    value in column ``keep`` stay on one page."""
    data = [list(frame.columns)] + frame.astype(str).values.tolist()
    while font_size > smallest and sum(_natural_widths(data, font_size)) > WIDTH:
        font_size -= 0.5
    table = LongTable(data, colWidths=_widths(data, font_size), repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTSIZE", (0, 0), (-1, -1), font_size),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f6f6")]),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, -1), (-1, -1), 0.5, GRID),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("ALIGN", (0, 0), (-1, 0), "CENTER"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]))
    if keep:
        for _, rows in frame.reset_index(drop=True).groupby(keep, sort=False).groups.items():
            table.setStyle([("NOSPLIT", (0, 1 + min(rows)), (-1, 1 + max(rows)))])
    return table


def key_values(rows: list[tuple[str, object]], style, key_width=4.2 * cm) -> LongTable:
    data = [[Paragraph(f"<b>{escape(k)}</b>", style), v if not isinstance(v, str) else
             Paragraph(escape(v), style)] for k, v in rows]
    table = LongTable(data, colWidths=[key_width, WIDTH - key_width], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, GRID),
                               ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
    return table


def _image(png: Path, max_height: float = 21 * cm) -> Image:
    """A figure at its own size (so that every figure's fonts print alike), shrunk
    only where it is wider than the text or taller than ``max_height``."""
    with PILImage.open(png) as im:
        w, h = im.size
        dpi = im.info.get("dpi", (FIGURE_DPI, FIGURE_DPI))[0]
    w, h = w / dpi * 72, h / dpi * 72
    scale = min(1.0, WIDTH / w, max_height / h)
    return Image(str(png), width=w * scale, height=h * scale)


class FigureBlock(Flowable):
    """A figure and its caption, kept together. Where the pair does not fit the space left on
    the page but fits with the figure shrunk to no less than ``min_scale`` of its size, it is
    shrunk to fit there; otherwise it keeps its size (and so does not fit)."""

    def __init__(self, png: Path, caption: Paragraph, min_scale: float = 0.72, gap: float = 4):
        super().__init__()
        self.image, self.caption, self.min_scale, self.gap = _image(png), caption, min_scale, gap
        self.scale = 1.0

    def wrap(self, avail_width, avail_height):
        _, caption_h = self.caption.wrap(avail_width, avail_height)
        natural = self.image.drawHeight
        room = avail_height - caption_h - self.gap
        self.scale = 1.0 if natural <= room else (room / natural if room >= self.min_scale * natural else 1.0)
        self.width = avail_width
        self.height = natural * self.scale + self.gap + caption_h
        return self.width, self.height

    def draw(self):
        w, h = self.image.drawWidth * self.scale, self.image.drawHeight * self.scale
        caption_h = self.height - h - self.gap
        self.canv.drawImage(self.image.filename, 0, caption_h + self.gap, width=w, height=h)
        self.caption.drawOn(self.canv, 0, 0)

    def getSpaceAfter(self):
        return self.caption.getSpaceAfter()


class FigureSet(Flowable):
    """The report's figures, flowed to fill pages: where the next figure does not fit the rest of
    a page (even shrunk a little, see FigureBlock), the first later one that does goes there, so
    that no page is left half empty. Figures are numbered in the order they are placed."""

    def __init__(self, figures: list[tuple[Path, str]], style: ParagraphStyle, first: int = 1):
        super().__init__()
        self.figures, self.style, self.first = figures, style, first
        self.blocks: list[FigureBlock] = []

    def _block(self, i: int, number: int, min_scale: float = 0.72) -> FigureBlock:
        png, caption = self.figures[i]
        return FigureBlock(png, Paragraph(f"<b>Figure {number}.</b> {escape(caption)}", self.style), min_scale)

    def wrap(self, avail_width, avail_height):
        """All the figures one below the other (they fit only on the page that takes the last ones)."""
        self.blocks = [self._block(i, self.first + i) for i in range(len(self.figures))]
        heights = [b.wrap(avail_width, avail_height)[1] for b in self.blocks]
        self.width, self.height = avail_width, sum(heights) + sum(b.getSpaceAfter() for b in self.blocks[:-1])
        return self.width, self.height

    def draw(self):
        y = self.height
        for block in self.blocks:
            y -= block.height
            block.drawOn(self.canv, 0, y)
            y -= block.getSpaceAfter()

    def split(self, avail_width, avail_height):
        for i in range(len(self.figures)):
            block = self._block(i, self.first)
            if block.wrap(avail_width, avail_height)[1] <= avail_height:
                return [block] + self._rest(i)
        frame = getattr(self, "_frame", None)
        if frame is not None and getattr(frame, "_atTop", False):  # a page of its own: the next one, shrunk to fit
            return [self._block(0, self.first, min_scale=0.0)] + self._rest(0)
        return []

    def _rest(self, placed: int) -> list:
        rest = self.figures[:placed] + self.figures[placed + 1:]
        return [FigureSet(rest, self.style, self.first + 1)] if rest else []


def bullets(lines: list[str], style) -> ListFlowable:
    return ListFlowable([ListItem(Paragraph(escape(s), style), leftIndent=12) for s in lines], bulletType="bullet",
                        start="•", leftIndent=12)


def closing_parts(n: int, part: int, scaling: pd.DataFrame | None, scaling_note: str, figures: list[Figure],
                  st: dict) -> list:
    """A study section's last parts, numbered n.part on: its throughput table (when it has one)
    and its figures."""
    story = []
    if scaling is not None and len(scaling):
        story += [Paragraph(f"{n}.{part} Throughput", st["h2"]), Paragraph(escape(scaling_note), st["body"]),
                  Spacer(1, 6), table(scaling, font_size=9), Spacer(1, 14)]
        part += 1
    if figures:
        story += [CondPageBreak(8 * cm), Paragraph(f"{n}.{part} Figures", st["h2_alone"]),
                  FigureSet([(f.png, f.caption) for f in figures], st["caption"]), Spacer(1, 6)]
    return story


def commit(p: dict) -> str:
    return p["git"]["commit"] + (" (with uncommitted changes)" if p["git"]["dirty"] else "")


def _title_page(title: str, sections: list, p: dict, s) -> list:
    facts = [("campaign", p["config_name"]),
             *[fact for section in sections for fact in section.facts()],
             ("date", p["date"]),
             ("git commit", commit(p)),
             ("config sha256", f"{p['config_sha256'][:12]} (in full under Provenance)")]
    return [Spacer(1, 5 * cm), Paragraph(escape(title), s["title"]),
            Paragraph("A tinyscale report, generated from the campaign's result files", s["subtitle"]),
            Spacer(1, 1.5 * cm), key_values(facts, s["facts"]), PageBreak()]


def _provenance(p: dict, s, number: int) -> list:
    files = [Paragraph(f"{escape(f['path'])}<br/><font name='Courier' size='7.5'>sha256 {f['sha256']}</font>",
                       s["cell"]) for f in p["config_files"]]
    host = p["devices"]["report_host"]
    rows = [
        ("config files", files),
        ("resolved config sha256", Paragraph(p["config_sha256"], s["mono"])),
        ("git commit", commit(p)),
        ("command", Paragraph(escape(p["command"]), s["mono"])),
        ("date", p["date"]),
        *[(f"devices: {stage}", ", ".join(kinds)) for stage, kinds in p["devices"]["results"].items()],
        ("report built on", f"{host['hostname']}: {host['cpu']}, {host['cores']} cores, Python {host['python']}"),
        ("packages", ", ".join(f"{k} {v}" for k, v in p["packages"].items())),
    ]
    return [Paragraph(f"{number} Provenance", s["h1"]),
            Paragraph("Devices are those recorded in the result rows (kind x processes); the command rebuilds "
                      "this report from the same configuration.", s["body"]), Spacer(1, 6), key_values(rows, s["cell"])]


def title(sections: list, p: dict) -> str:
    """A one-study campaign is titled by its study; a campaign of several by its name."""
    return sections[0].title if len(sections) == 1 else f"Campaign {p['config_name']}: {len(sections)} studies"


def build(sections: list, provenance: dict, out: str | Path) -> None:
    """The PDF of ``sections`` (each a study's section: ``title``, ``facts()`` for the title
    page, ``story(styles, number)`` for its pages), numbered in order, then the provenance."""
    s = styles()
    name = provenance["config_name"]
    heading = title(sections, provenance)
    story = _title_page(heading, sections, provenance, s)
    for number, section in enumerate(sections, 1):
        story += section.story(s, number)
    story += _provenance(provenance, s, len(sections) + 1)

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(2 * cm, 1.2 * cm, f"tinyscale report: {name}")
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"page {doc.page}")
        canvas.restoreState()

    with io.atomic_path(out) as tmp:
        doc = SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm,
                                bottomMargin=2 * cm, title=heading, author="tinyscale", subject=name,
                                invariant=1)
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
