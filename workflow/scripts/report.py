"""Build the campaign's PDF report or slide deck: a section per study, each from its
own result files.

  report.py pdf --sections '{"robustness": {"sweep": [...], "metrics": [...], ...}, ...}'
      --workflow-dir <checkout>/workflow --provenance results/report/provenance.json --out results/report/report.pdf
  report.py slides (the same) --out results/report/slides.pptx

--sections gives, in report order, each study's result files by name, as its rules
file lists them (tinyscale.<study>.report.section reads them); a list named
"captions" holds caption files relative to <workflow-dir>/report/.
"""
from pathlib import Path

from tinyscale import cli
from tinyscale.report import pdf, provenance, section, slides


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("kind", choices=["pdf", "slides"])
    p.add_argument("--sections", type=cli.json_arg, required=True, help="{study: {name: [paths]}} (JSON)")
    p.add_argument("--workflow-dir", type=Path, required=True, help="the checkout's workflow folder (captions)")
    p.add_argument("--provenance", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    record = provenance.load(a.provenance)
    for inputs in a.sections.values():  # captions are named relative to workflow/report/
        inputs["captions"] = [str(a.workflow_dir / "report" / c) for c in inputs.get("captions", [])]
    sections = [section(study, inputs, record) for study, inputs in a.sections.items()]
    if not sections:
        p.error("--sections names no study")
    (pdf if a.kind == "pdf" else slides).build(sections, record, a.out)
    cli.log.info("wrote %s", a.out)
    for s in sections:
        for sentence in s.summary():
            cli.log.info("%s: %s", s.title, sentence)


if __name__ == "__main__":
    cli.run(main)
