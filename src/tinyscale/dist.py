"""One distributed runtime for every launcher.

``init()`` reads whatever started the process and returns a :class:`World`:

- torchrun (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``);
- srun without torchrun (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``;
  the rendezvous host is the first node of ``SLURM_JOB_NODELIST``);
- nothing: one process.

It picks the device (``cuda:<local rank>`` when GPUs are there and asked for,
else the CPU) and the backend (nccl on GPUs, gloo on the CPU). Scripts then
shard work with :meth:`World.shard` and collect it on rank 0 with
:meth:`World.gather`, without knowing how they were started.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Sequence, TypeVar

import torch
import torch.distributed as td

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None   # None: a single process, no process group
    launcher: str = "python"     # python | torchrun | srun

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's items: every ``world_size``-th, starting at ``rank``.

        Deterministic, covers every item exactly once over all ranks, and
        balanced to within one item.
        """
        return list(items[self.rank::self.world_size])

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` in rank order on rank 0; None on the others."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size if self.is_main else None
        td.gather_object(obj, out, dst=0)
        return out

    def sum(self, value: float) -> float:
        """``value`` summed over ranks (every rank gets the total)."""
        if self.world_size == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64,
                         device=self.device if self.backend == "nccl" else "cpu")
        td.all_reduce(t)
        return float(t.item())

    def barrier(self) -> None:
        if self.world_size > 1:
            td.barrier()

    def close(self) -> None:
        if self.backend and td.is_initialized():
            td.destroy_process_group()


SINGLE = World()


def _first_slurm_host(nodelist: str) -> str:
    """First host of a Slurm node list, via scontrol when it is there."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                             text=True, check=True, timeout=30).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    # "n[1-2,5],gpu7" -> "n1": expand only the first entry
    m = re.match(r"([^\[,]+)(?:\[(\d+))?", nodelist)
    return m.group(1) + (m.group(2) or "") if m else "127.0.0.1"


def rank_and_size(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """This process's rank and the world size, read from the launcher's
    environment alone (as :func:`init` reads it, without its side effects):
    what logging needs before the process group exists."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"])
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"])
    return 0, 1


def _from_env(env: dict[str, str]) -> tuple[int, int, int, str]:
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)), "torchrun"
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        rank, world = int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"])
        env.setdefault("MASTER_ADDR", _first_slurm_host(env.get("SLURM_JOB_NODELIST", "127.0.0.1")))
        env.setdefault("MASTER_PORT", str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000))
        return rank, world, int(env.get("SLURM_LOCALID", 0)), "srun"
    return 0, 1, 0, "python"


def init(device: str = "auto", timeout_s: float = 600.0) -> World:
    """Join the process group of whatever launched this process (if any)."""
    rank, world, local, launcher = _from_env(os.environ)  # type: ignore[arg-type]
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no CUDA GPU")
    dev = torch.device(f"cuda:{local % torch.cuda.device_count()}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    backend = None
    if world > 1:
        backend = "nccl" if use_cuda else "gloo"
        if not td.is_initialized():
            td.init_process_group(backend, init_method="env://", rank=rank, world_size=world,
                                  timeout=timedelta(seconds=timeout_s))
    return World(rank, world, local, dev, backend, launcher)


def torchrun_main(argv: Sequence[str] | None = None) -> int:
    """torchrun (``python -m torch.distributed.run``) with quieter failures:
    ``python -m tinyscale.dist [torchrun options] script [args]``.

    Same options, same processes and environment. When a rank fails, torchrun
    itself ends in an uncaught ChildFailedError: its own Python traceback,
    then the failure summary (which rank, exit status or signal, and the
    rank's error file). This prints the summary alone and returns 1, so that a
    rule's log holds one traceback at most: the failing rank's own. It also
    sets OMP_NUM_THREADS=1 when unset, as torchrun would, without its banner
    saying so.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        run(parse_args(argv))
    except ChildFailedError as err:
        print(err.format_msg(), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(torchrun_main())
