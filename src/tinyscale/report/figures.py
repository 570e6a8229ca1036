"""What every study's figures share: one look (:func:`theme`) and one writer (:func:`save`),
so that figures of different studies print alike in the same report and a figure is
rebuilt byte for byte from the same results.

Kept apart from the package's ``__init__`` so that building a report (which only reads
PNGs) does not import matplotlib.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .. import io  # noqa: E402
from . import FIGURE_DPI  # noqa: E402


def theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.3,
                  rc={"axes.titleweight": "bold", "svg.hashsalt": "tinyscale", "legend.frameon": False})


def save(fig: plt.Figure, png, svg) -> None:
    """Both formats, written atomically and without timestamps (same results, same bytes)."""
    for path, meta in ((png, {"Software": None}), (svg, {"Date": None})):
        fmt = str(path).rsplit(".", 1)[1]
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=FIGURE_DPI, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def outputs(parser: argparse.ArgumentParser, out: list[str], known: Iterable[str]) -> dict[str, tuple[Path, Path]]:
    """A figure script's ``--out`` (each figure's .png and .svg) as {figure: (png, svg)}, in order;
    a figure the script does not draw, or one without both files, is a usage error."""
    known = list(known)
    paths = {(p.stem, p.suffix): p for p in map(Path, out)}
    names = list(dict.fromkeys(stem for stem, _ in paths))
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"no figure named {', '.join(unknown)} (figures: {', '.join(known)})")
    missing = [f"{n}{s}" for n in names for s in (".png", ".svg") if (n, s) not in paths]
    if missing:
        parser.error(f"--out lacks {', '.join(missing)}")
    return {n: (paths[n, ".png"], paths[n, ".svg"]) for n in names}


def save_all(figures: dict[str, tuple[Path, Path]], draw: dict[str, Callable[[], plt.Figure]]) -> None:
    """Draw and :func:`save` each of ``figures`` (from :func:`outputs`)."""
    for name, (png, svg) in figures.items():
        save(draw[name](), png, svg)
        logging.getLogger("tinyscale").info("wrote %s and %s", png, svg)
