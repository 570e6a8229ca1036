"""The campaign report, built only from result files: a PDF and a slide deck with a
section per study, and where the results came from.

pdf, slides: the reportlab document and the python-pptx deck, and the parts every
    study's section is made of
provenance: config and its hash, commit, packages, devices

A study's section lives in its own package, ``tinyscale.<study>.report``, whose
``section(inputs, provenance)`` reads the study's result files (``inputs``: lists of
paths by name, as the study's rules file gives them) and returns an object with
``title``, ``facts()``, ``one_line()``, ``summary()``, ``story(styles, number)`` and
``slides(prs)``. The report script imports only the sections it is given. Every study's
figures share :mod:`.figures` (their theme and writer) and captions read by :func:`caption`.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

FIGURE_DPI = 200


def read_csv(path: str | Path, columns: list[str]):
    """A result table every section reads the same way: one clear error naming the file when it
    is unreadable, lacks one of ``columns`` or has no rows. (pandas is imported here, not at
    the top: the Snakefile imports this package through report.provenance at every start.)"""
    import pandas as pd

    from ..errors import ResultsError

    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ResultsError(f"{path}: not a readable CSV file ({err})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ResultsError(f"{path}: missing column(s) {', '.join(missing)}")
    if table.empty:
        raise ResultsError(f"{path}: no rows")
    return table


def one_file(inputs: dict[str, list[str]], key: str, study: str, required: bool = True) -> str | None:
    """The one path a section's input ``key`` names (None when it names none and is not required)."""
    from ..errors import ResultsError

    files = inputs.get(key, [])
    if len(files) > 1 or (required and not files):
        raise ResultsError(f"the {study} section takes one {key} file, given {len(files)}: {', '.join(files)}")
    return files[0] if files else None


def throughput_rows(path: str | Path, per_run: tuple[str, str], rate: str = "images/s"):
    """A study's scaling/scaling.csv as its report's throughput table, and the devices of which a
    run had less than a core (notes "cpu shared"). A row per (nodes, processes): the world size,
    ``per_run`` (a title and the scaling.csv column it shows, e.g. ("batch", "batch")), the
    throughput under the title ``rate`` (mean over repeats), speed-up and efficiency against the
    smallest world size, the largest peak memory of a process, and the config it timed."""
    import pandas as pd

    from ..scaling import COLUMNS, throughput_table

    runs = read_csv(path, COLUMNS + ["nodes", "procs_per_node", "world_size", "passes"])
    t = throughput_table(runs)
    first = lambda column: [runs.loc[runs["devices"] == d, column].iat[0] for d in t["devices"]]  # noqa: E731
    rows = pd.DataFrame({"devices": t["devices"], "world size": t["world_size"],
                         per_run[0]: [int(v) for v in first(per_run[1])],
                         rate: t["samples_per_s"].map(lambda v: f"{v:,.0f}"),
                         "speed-up": t["speedup"].map(lambda v: f"{v:.2f}"),
                         "efficiency": t["efficiency"].map(lambda v: f"{100 * v:.0f}%"),
                         "memory / process": t["mem_mb"].map(lambda v: f"{v:,.0f} MB"),
                         "config": first("config")})
    shared = runs.loc[runs["notes"].fillna("").astype(str).str.contains("cpu shared"), "devices"]
    return rows, list(dict.fromkeys(shared))


def shared_cpu_note(shared: list[str]) -> str:
    """What a throughput note adds for the devices whose runs had less than a core ("" for none)."""
    if not shared:
        return ""
    return (f" Runs on {', '.join(shared)} had less than 90% of a core (a shared CPU): their time says "
            "as much about the machine's other load.")


def throughput_sentence(rows) -> str:
    """What a throughput table (:func:`throughput_rows`' rows) says in a sentence ("" for none)."""
    if len(rows) > 1:
        a, b = rows.iloc[0], rows.iloc[-1]
        return (f" Scaling runs: {a['images/s']} images/s on {a['devices']} to {b['images/s']} on {b['devices']} "
                f"(speed-up {b['speed-up']}, efficiency {b['efficiency']}).")
    if len(rows):
        return f" Scaling run: {rows['images/s'].iat[0]} images/s on {rows['devices'].iat[0]}."
    return ""


def caption(path: str | Path) -> str:
    """A caption file's text on one line (the same file captions Snakemake's HTML report)."""
    return re.sub(r"\s+", " ", Path(path).read_text()).strip()


def section(study: str, inputs: dict[str, list[str]], provenance: dict):
    """The report section of ``study`` from its result files."""
    return importlib.import_module(f"tinyscale.{study}.report").section(inputs, provenance)
