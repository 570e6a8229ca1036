"""Reports built only from result files: figures, a PDF, a slide deck.

results: read and check the result files, and compute every number a report states
figures: the seaborn figures (PNG and SVG), one colour per model throughout
pdf, slides: the reportlab document and the python-pptx deck
provenance: where the results came from (config and its hash, commit, packages, devices)
"""


class ResultsError(ValueError):
    """A result file a report needs is missing, unreadable or lacks columns.

    (Here rather than in results.py so that every script's error handling can
    name it without importing the report's dependencies.)"""
