"""What every workflow script shares: common options, logging, clean errors."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

from .checkpoint import CheckpointError
from .config import ConfigError
from .idx import DataError
from .report import ResultsError
from .progress import setup_logging

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


def model_and_samples(args: argparse.Namespace):
    """Join the launcher's process group (if any), set threads, and load
    ``--checkpoint`` and ``--samples`` onto this rank's device.

    Returns (world, model, x, y).
    """
    from . import data, dist, runtime
    from .checkpoint import load_checkpoint

    runtime.set_threads(args.threads)
    world = dist.init(args.device)
    model = load_checkpoint(args.checkpoint, world.device)
    x, y, _ = data.load_samples(args.samples)
    return world, model, x.to(world.device), y.to(world.device)


def run(main: Callable[[], None]) -> None:
    """Run a script's main: bad input ends with one line naming the file or key.

    Under torchrun, a rank's uncaught error is recorded so that the launcher's
    failure summary shows that rank's traceback.
    """
    from torch.distributed.elastic.multiprocessing.errors import record

    setup_logging()
    try:
        record(main)()
    except (ConfigError, DataError, CheckpointError, ResultsError) as err:
        log.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
