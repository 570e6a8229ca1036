"""Build the PDF report or the slide deck from result files and figures.

  report.py pdf --sweep results/robustness/sweep.csv --metrics <model>__seed<s>.json ...
      --scaling results/scaling/scaling.csv --provenance results/report/provenance.json
      --figures <png> ... --captions <figure>.rst ... --out results/report/report.pdf
  report.py slides (the same --sweep --metrics --scaling --provenance)
      --figures verified_vs_eps.png scaling.png --out results/report/slides.pptx

--metrics takes every (model, training seed)'s metrics JSON, models in the config's
order. The sweep's attack is named from provenance.json's resolved config
(``config.robustness.attack``).
"""
import re
from pathlib import Path

from tinyscale import cli
from tinyscale.report import ResultsError, pdf, slides
from tinyscale.report.results import Campaign


def caption(path: Path) -> str:
    """A caption file's text on one line (the same file captions Snakemake's HTML report)."""
    return re.sub(r"\s+", " ", path.read_text()).strip()


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("kind", choices=["pdf", "slides"])
    p.add_argument("--sweep", required=True)
    p.add_argument("--metrics", nargs="+", required=True)
    p.add_argument("--scaling", required=True)
    p.add_argument("--provenance", required=True)
    p.add_argument("--figures", nargs="+", required=True, type=Path, help="PNG figures, in report order")
    p.add_argument("--captions", nargs="+", type=Path, default=[], help="<figure>.rst captions (pdf)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    campaign = Campaign.load(a.sweep, a.metrics, a.scaling, a.provenance)
    figures = {f.stem: f for f in a.figures}
    if a.kind == "pdf":
        captions = {c.stem: caption(c) for c in a.captions}
        missing = sorted(set(figures) - set(captions))
        if missing:
            raise ResultsError(f"no caption for figure(s) {', '.join(missing)} (give <figure>.rst with --captions)")
        pdf.build(campaign, [pdf.Figure(name, png, captions[name]) for name, png in figures.items()], a.out)
    else:
        slides.build(campaign, figures["verified_vs_eps"], figures["scaling"], a.out)
    cli.log.info("wrote %s", a.out)
    for sentence in campaign.summary():
        cli.log.info("summary: %s", sentence)


if __name__ == "__main__":
    cli.run(main)
