"""What every workflow script shares: common options, logging, clean errors."""
from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import sys
import time
import traceback
from typing import Callable

from .errors import INPUT_ERRORS
from .progress import rank_prefix, setup_logging

log = logging.getLogger("tinyscale")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto, or xla (training only)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    return p


def json_arg(text: str):
    """argparse type for options that take a JSON object (from Snakemake params)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err


def run(main: Callable[[], None]) -> None:
    """Run a script's main: bad input ends with one line naming the file or key
    (``error: ...``, exit status 2), written once and never logged again.

    With several ranks (torchrun, srun) every line a rank writes to stderr
    starts with ``[rank<N>]: ``: log lines, its error line, and the traceback
    of an unexpected error (exit status 1), which it writes itself, once.
    torchrun's failure summary then names the rank and points back to those
    lines instead of repeating them (see :func:`_tell_launcher`).
    """
    from .dist import rank_and_size

    rank, world_size = rank_and_size()
    prefix = rank_prefix(rank, world_size)
    setup_logging(prefix=prefix)
    faulthandler.enable(all_threads=True)  # a crash in native code still shows every thread's stack
    try:
        main()
    except INPUT_ERRORS as err:
        _write(prefix, f"error: {err}\n")
        _tell_launcher(f"input error (exit status 2): see the line '{prefix}error: ...' above")
        sys.exit(2)
    except Exception as err:
        if world_size > 1 and _lost_peer(err):
            # another rank died (killed, out of memory, a lost node): this rank's traceback says nothing
            # about why, so one line, and no error file, so that torchrun's summary puts the rank
            # that died first as the root cause
            first = str(err).split(". ")[0]
            _write(prefix, f"error: lost another rank of this job ({first}); torchrun's summary names it\n")
            sys.exit(1)
        where = f" (its lines start with '{prefix.strip()}')" if prefix else ""
        _tell_launcher(f"uncaught exception (exit status 1): see the traceback above{where}")
        if world_size == 1:
            raise  # Python prints the traceback, once, and exits with status 1
        _write(prefix, traceback.format_exc())
        sys.exit(1)


def _lost_peer(err: BaseException) -> bool:
    """Whether ``err`` is a collective failing because another rank's process went away."""
    text = str(err)
    transport = type(err).__name__ == "DistBackendError" or "gloo" in text or "NCCL" in text
    return transport and any(s in text for s in ("Connection reset by peer", "Connection closed by peer",
                                                  "Broken pipe", "remote process exited", "Socket closed"))


def _write(prefix: str, text: str) -> None:
    sys.stderr.write("".join(prefix + line for line in text.splitlines(keepends=True)))
    sys.stderr.flush()


def _tell_launcher(note: str) -> None:
    """Leave torchrun the error file its failure summary reads (the summary's
    ``traceback :`` field): ``note``, a pointer to this rank's own lines, so
    that the log does not show the error a second time. (Without the file
    torchrun says "To enable traceback see: ...": the advice to decorate main
    with @record, which would copy the whole traceback into the summary.)"""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    try:
        with open(path, "w") as fh:
            # the layout of torch's own ErrorHandler.record_exception; the summary shows py_callstack
            json.dump({"message": {"message": note, "extraInfo": {
                "py_callstack": note, "timestamp": str(int(time.time()))}}}, fh)
    except OSError:
        pass  # the summary then lacks the pointer; the rank's own lines are there
