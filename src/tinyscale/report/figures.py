"""What every study's figures share: one look (:func:`theme`) and one writer (:func:`save`),
so that figures of different studies print alike in the same report and a figure is
rebuilt byte for byte from the same results.

Kept apart from the package's ``__init__`` so that building a report (which only reads
PNGs) does not import matplotlib.
"""
from __future__ import annotations

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
