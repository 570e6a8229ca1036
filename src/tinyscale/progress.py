"""Progress for long loops: a tqdm bar on a terminal, plain lines in log files."""
from __future__ import annotations

import logging
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
log = logging.getLogger("tinyscale")


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr (which rules redirect into their log file)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def progress(items: Iterable[T], desc: str, total: int | None = None, every_s: float = 10.0) -> Iterator[T]:
    """Iterate over ``items`` while reporting progress.

    On a terminal this is a tqdm bar. Elsewhere (a rule's log file) it logs a
    line at the start, at most every ``every_s`` seconds, and at the end, so
    that logs stay short but show that work goes on.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, total=total, leave=False)
        return
    start = last = time.monotonic()
    of = f"/{total}" if total is not None else ""
    log.info("%s: 0%s", desc, of)
    done = 0
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every_s:
            log.info("%s: %d%s (%.0f s)", desc, done, of, now - start)
            last = now
    log.info("%s: %d%s done in %.1f s", desc, done, of, time.monotonic() - start)
