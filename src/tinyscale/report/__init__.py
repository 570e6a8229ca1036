"""Reports built only from result files: figures, a PDF, a slide deck.

results: read and check the result files, and compute every number a report states
figures: the seaborn figures (PNG and SVG), one colour per model throughout
pdf, slides: the reportlab document and the python-pptx deck
provenance: where the results came from (config and its hash, commit, packages, devices)
"""

# The figures each figure rule draws, by the results they read; their order in the PDF; their
# resolution. (Here, not in figures.py, so that the Snakefile reads them without importing
# matplotlib and seaborn at every start.)
GROUPS = {
    "sweep": ["verified_vs_eps", "time_vs_eps", "memory_vs_eps", "verified_heatmap", "verdicts"],
    "training": ["training_curves"],
    "convergence": ["convergence"],
    "scaling": ["scaling"],
}
REPORT_ORDER = ["verified_vs_eps", "verified_heatmap", "verdicts", "convergence", "time_vs_eps", "memory_vs_eps",
                "training_curves", "scaling"]
FIGURE_DPI = 200


class ResultsError(ValueError):
    """A result file a report needs is missing, unreadable or lacks columns.

    (Here rather than in results.py so that every script's error handling can
    name it without importing the report's dependencies.)"""
