"""Progress for long loops: a tqdm bar on a terminal, plain lines in log files."""
from __future__ import annotations

import logging
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
log = logging.getLogger("tinyscale")


def rank_prefix(rank: int, world_size: int) -> str:
    """What starts every stderr line of a rank when there are several:
    ``[rank1]: ``, as torch.distributed prefixes a rank's uncaught traceback
    (so that one grep finds all of a rank's lines); nothing for one process."""
    return f"[rank{rank}]: " if world_size > 1 else ""


class _PrefixFormatter(logging.Formatter):
    """Puts ``prefix`` before every line of a record (a logged traceback too)."""

    def __init__(self, prefix: str, fmt: str, datefmt: str):
        super().__init__(fmt, datefmt)
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.prefix:
            return text
        return "".join(self.prefix + line for line in text.splitlines(keepends=True))


def setup_logging(level: int = logging.INFO, prefix: str | None = None) -> None:
    """Log to stderr (which rules redirect into their log file).

    ``prefix`` starts every line; by default the rank's (see :func:`rank_prefix`)
    when the launcher's environment (torchrun, srun) says there are several.
    """
    if prefix is None:
        from .dist import rank_and_size

        prefix = rank_prefix(*rank_and_size())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrefixFormatter(prefix, "%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def progress(items: Iterable[T], desc: str, total: int | None = None, every_s: float = 10.0,
             start: int = 0) -> Iterator[T]:
    """Iterate over ``items`` while reporting progress.

    On a terminal this is a tqdm bar. Elsewhere (a rule's log file) it logs a
    line at the start, at most every ``every_s`` seconds, and at the end, so
    that logs stay short but show that work goes on. ``start``: how many of
    ``total`` were done before ``items`` (a resumed run).
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, total=total, initial=start, leave=False)
        return
    t0 = last = time.monotonic()
    of = f"/{total}" if total is not None else ""
    log.info("%s: %d%s", desc, start, of)
    done = start
    for done, item in enumerate(items, start + 1):
        yield item
        now = time.monotonic()
        if now - last >= every_s:
            log.info("%s: %d%s (%.0f s)", desc, done, of, now - t0)
            last = now
    log.info("%s: %d%s done in %.1f s", desc, done, of, time.monotonic() - t0)
