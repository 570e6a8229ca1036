"""The robustness study's report section: its figures and its pages and slides.

results: read and check the result files, and compute every number the section states
figures: the seaborn figures (PNG and SVG), one colour per model throughout
pages: the section's PDF pages and slides
"""
from __future__ import annotations

from pathlib import Path

from ...errors import ResultsError
from ...report import caption


def section(inputs: dict[str, list[str]], provenance: dict):
    """The section from ``inputs``: sweep, metrics, scaling, figures (PNGs in report
    order) and captions (a <figure>.rst per figure)."""
    from ...report.pdf import Figure
    from .results import Results
    from .pages import Section

    results = Results.load(inputs["sweep"][0], inputs["metrics"], inputs["scaling"][0], provenance)
    figures = {Path(f).stem: Path(f) for f in inputs["figures"]}
    captions = {Path(c).stem: caption(c) for c in inputs["captions"]}
    missing = sorted(set(figures) - set(captions))
    if missing:
        raise ResultsError(f"no caption for figure(s) {', '.join(missing)}")
    return Section(results, [Figure(name, png, captions[name]) for name, png in figures.items()],
                   figures["verified_vs_eps"], figures["scaling"])
