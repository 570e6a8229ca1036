"""The PDF report (reportlab): title page, computed summary, figures with captions,
the results and scaling tables, and where it all came from."""
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
from reportlab.platypus import (Image, KeepTogether, ListFlowable, ListItem, LongTable, PageBreak, Paragraph,
                                SimpleDocTemplate, Spacer, TableStyle)

from .. import io
from ..config import format_eps
from . import FIGURE_DPI
from .results import Campaign

TITLE = "Robustness verification of tiny recursive models"
WIDTH = A4[0] - 4 * cm  # text width between 2 cm margins
GRID = colors.HexColor("#c8c8c8")
HEADER = colors.HexColor("#e8eef4")


@dataclass(frozen=True)
class Figure:
    name: str
    png: Path
    caption: str


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontSize=10.5, leading=14)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontSize=24, leading=30, spaceAfter=12),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=14, leading=18, alignment=1, spaceAfter=24),
        "h1": ParagraphStyle("h1", parent=base["Heading1"], fontSize=16, spaceBefore=6, spaceAfter=8,
                             keepWithNext=1),
        "body": body,
        "caption": ParagraphStyle("caption", parent=body, fontSize=9.5, leading=12.5, spaceBefore=4, spaceAfter=14,
                                  textColor=colors.HexColor("#333333")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=11.5),
        "facts": ParagraphStyle("facts", parent=body, fontSize=11, leading=14),
        "mono": ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=8, leading=10, wordWrap="CJK"),
    }


def _widths(data: list[list[str]], font_size: float, padding: float = 8) -> list[float]:
    """Column widths that fit each column's widest entry, shrunk as a whole to the text width."""
    widths = [max(stringWidth(str(row[j]), "Helvetica-Bold", font_size) for row in data) + padding
              for j in range(len(data[0]))]
    scale = min(1.0, WIDTH / sum(widths))
    return [w * scale for w in widths]


def _table(frame: pd.DataFrame, font_size: float = 8.5) -> LongTable:
    """A table that fits the text width and repeats its header on every page it runs over."""
    data = [list(frame.columns)] + frame.astype(str).values.tolist()
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
    return table


def _key_values(rows: list[tuple[str, object]], style, key_width=4.2 * cm) -> LongTable:
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


def _bullets(lines: list[str], style) -> ListFlowable:
    return ListFlowable([ListItem(Paragraph(escape(s), style), leftIndent=12) for s in lines], bulletType="bullet",
                        start="•", leftIndent=12)


def _commit(p: dict) -> str:
    return p["git"]["commit"] + (" (with uncommitted changes)" if p["git"]["dirty"] else "")


def _title_page(c: Campaign, s) -> list:
    p = c.provenance
    facts = [
        ("campaign", p["config_name"]),
        ("models", ", ".join(f"{r.model} ({r.training})" for r in c.checkpoints.itertuples())),
        ("data", f"{c.checkpoints['data'].iat[0]}, {c.samples} test samples verified"),
        ("eps grid", ", ".join(format_eps(e) for e in c.eps)),
        ("bounds", ", ".join(c.methods) + " (auto_LiRPA), after a PGD attack"),
        ("date", p["date"]),
        ("git commit", _commit(p)),
        ("config sha256", p["config_sha256"]),
    ]
    return [Spacer(1, 5 * cm), Paragraph(TITLE, s["title"]),
            Paragraph("A tinyscale report, generated from the campaign's result files", s["subtitle"]),
            Spacer(1, 1.5 * cm), _key_values(facts, s["facts"]), PageBreak()]


def _provenance(c: Campaign, s) -> list:
    p = c.provenance
    files = [Paragraph(f"{escape(f['path'])}<br/><font name='Courier' size='7.5'>sha256 {f['sha256']}</font>",
                       s["cell"]) for f in p["config_files"]]
    devices = p["devices"]["results"]
    host = p["devices"]["report_host"]
    rows = [
        ("config files", files),
        ("resolved config sha256", Paragraph(p["config_sha256"], s["mono"])),
        ("git commit", _commit(p)),
        ("command", Paragraph(escape(p["command"]), s["mono"])),
        ("date", p["date"]),
        *[(f"devices: {stage}", ", ".join(kinds)) for stage, kinds in devices.items()],
        ("report built on", f"{host['hostname']}: {host['cpu']}, {host['cores']} cores, Python {host['python']}"),
        ("packages", ", ".join(f"{k} {v}" for k, v in p["packages"].items())),
    ]
    return [Paragraph("6 Provenance", s["h1"]),
            Paragraph("Devices are those recorded in the result rows (kind x processes); the command rebuilds "
                      "this report from the same configuration.", s["body"]), Spacer(1, 6), _key_values(rows, s["cell"])]


def build(c: Campaign, figures: list[Figure], out: str | Path) -> None:
    s = _styles()
    story = _title_page(c, s)
    story += [Paragraph("1 Summary", s["h1"]), _bullets(c.summary(), s["body"]), Spacer(1, 10),
              Paragraph("2 Models", s["h1"]),
              Paragraph("Accuracies of the kept checkpoints on the test split; the adversarial model keeps the "
                        "epoch with the best PGD accuracy on a validation split.", s["body"]), Spacer(1, 6),
              _table(c.checkpoint_table(), font_size=9.5), PageBreak(),
              Paragraph("3 Figures", s["h1"])]
    for i, fig in enumerate(figures, 1):
        story.append(KeepTogether([_image(fig.png), Paragraph(f"<b>Figure {i}.</b> {escape(fig.caption)}",
                                                               s["caption"])]))
    story += [PageBreak(), Paragraph("4 Results", s["h1"]),
              Paragraph(f"Every sweep cell: verdict counts of the {c.samples} samples, the verified share, the mean "
                        "time per sample and the peak memory of the cell (from results/robustness/sweep.csv).",
                        s["body"]), Spacer(1, 6), _table(c.results_table()), Spacer(1, 14),
              Paragraph("5 Scaling", s["h1"]),
              Paragraph("Mean throughput of the repeated scaling runs (samples over the slowest rank's time), the "
                        "speed-up and efficiency against the smallest run, and peak memory per process "
                        "(from results/scaling/scaling.csv).", s["body"]), Spacer(1, 6),
              _table(c.scaling_table(), font_size=9.5), Spacer(1, 14)]
    story += _provenance(c, s)

    name = c.provenance["config_name"]

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(2 * cm, 1.2 * cm, f"tinyscale report: {name}")
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"page {doc.page}")
        canvas.restoreState()

    with io.atomic_path(out) as tmp:
        doc = SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm,
                                bottomMargin=2 * cm, title=TITLE, author="tinyscale", subject=name,
                                invariant=1)
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
