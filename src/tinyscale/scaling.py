"""Scaling runs: a study's work (a sweep cell, training steps) timed over (nodes x processes), in the seed's schema.

Throughput follows the seed: samples processed / the slowest rank's time. A
run repeats the cell's work (``passes``) until enough wall time has passed
for its timing to be steady (:func:`timed_passes`); ``samples`` stays the
cell's sample count, so samples processed = ``samples * passes``. Memory is
per process: peak CUDA allocation on a GPU, peak resident set on the CPU.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

import pandas as pd

COLUMNS = ["timestamp", "config", "devices", "batch", "samples", "avg_time_per_sample_s", "total_time_s",
           "gpu_mem_mb", "notes"]
# what scaling.csv holds after the seed's columns: the layout, the passes of a run,
# its throughput, and per configuration the spread of its repeats' throughput
EXTRA_COLUMNS = ["nodes", "procs_per_node", "world_size", "passes", "samples_per_s", "cpu_share",
                 "repeat_min_samples_per_s", "repeat_max_samples_per_s", "repeat_spread"]
CONFIG_KEYS = ["nodes", "procs_per_node"]
UNSTABLE = 0.10  # repeats further apart than this are flagged
SHARED = 0.90    # a run whose busiest rank had less of a core than this waited for other processes


def devices_label(nodes: int, procs: int, kind: str) -> str:
    """``2xcpu`` on one node, ``2x1xA100`` across nodes (nodes x processes x device)."""
    if nodes == 1:
        return f"{procs}x{kind}"
    return f"{nodes}x{procs}x{kind}"


class PassTimer:
    """Counts passes of work on every rank and says when to stop: after ``min_seconds`` of
    wall time on rank 0, at least one pass.

    Rank 0 decides after each pass whether another one follows and every rank
    gets its decision (a sum over ranks of rank 0's vote), so every rank does
    the same number of passes. The time includes that exchange, so a rank's
    time is the time until the slowest rank finished its last pass.
    """

    def __init__(self, world, min_seconds: float, clock: Callable[[], float] = time.perf_counter):
        self.world, self.min_seconds, self.clock = world, min_seconds, clock
        self.start, self.passes, self.seconds = clock(), 0, 0.0

    def done(self) -> bool:
        """One more pass is done: whether it was the last (the same answer on every rank)."""
        self.passes += 1
        more = self.world.is_main and self.clock() - self.start < self.min_seconds
        last = self.world.sum(1.0 if more else 0.0) == 0
        if last:
            self.seconds = self.clock() - self.start
        return last


def timed_passes(work: Callable[[], None], world, min_seconds: float,
                 clock: Callable[[], float] = time.perf_counter) -> tuple[int, float]:
    """Run ``work`` (one pass of a cell) until ``min_seconds`` of wall time have
    passed on rank 0, at least once (see :class:`PassTimer`); returns (passes,
    this rank's seconds)."""
    timer = PassTimer(world, min_seconds, clock)
    while True:
        work()
        if timer.done():
            return timer.passes, timer.seconds


class TimedSteps:
    """A :func:`tinyscale.trainer.fit` ``stop`` callback that times training steps in passes:
    ``warmup_steps`` untimed steps (allocation, DDP buckets), a barrier, then passes of
    ``steps_per_pass`` steps until ``min_seconds`` of wall time have passed on rank 0 (every
    rank doing as many; :class:`PassTimer`). After training, ``timer`` holds the passes and
    seconds and :meth:`cpu_seconds` this rank's CPU time over them."""

    def __init__(self, world, warmup_steps: int, steps_per_pass: int, min_seconds: float):
        self.world, self.warmup, self.per_pass, self.min_seconds = world, warmup_steps, steps_per_pass, min_seconds
        self.timer: PassTimer | None = None
        self._cpu = 0.0

    def __call__(self, steps: int) -> bool:
        if steps < self.warmup:
            return False
        if steps == self.warmup:
            self.world.barrier()                    # time the work, not the start-up
            self.timer, self._cpu = PassTimer(self.world, self.min_seconds), time.process_time()
            return False
        if (steps - self.warmup) % self.per_pass:
            return False
        return self.timer.done()

    def cpu_seconds(self) -> float:
        return time.process_time() - self._cpu


def run_row(method: str, nodes: int, procs: int, kind: str, batch: int, samples: int,
            rank_seconds: list[float], rank_mem_mb: list[float], run: int, passes: int = 1,
            rank_cpu_seconds: list[float] | None = None) -> dict:
    """One run: ``samples`` per pass, ``passes`` passes in ``max(rank_seconds)``.

    ``rank_cpu_seconds``: each rank's CPU time over the same span. ``cpu_share``
    is the highest rank's CPU / wall time: near 1 when the busiest rank had its
    core to itself, lower when it waited for other processes on the machine
    (noted as a shared CPU: such a run's time says more about the others' load).
    """
    total = max(rank_seconds)
    share = float("nan")
    if rank_cpu_seconds:
        share = round(max(c / s for c, s in zip(rank_cpu_seconds, rank_seconds) if s > 0), 3)
    notes = f"run{run}" + (f";cpu shared ({share:.0%} of a core)" if share < SHARED else "")
    return {"timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "config": method,
            "devices": devices_label(nodes, procs, kind), "batch": batch, "samples": samples,
            "avg_time_per_sample_s": round(total / (samples * passes), 6), "total_time_s": round(total, 4),
            "gpu_mem_mb": round(max(rank_mem_mb), 1), "notes": notes,
            "nodes": nodes, "procs_per_node": procs, "world_size": nodes * procs, "passes": passes,
            "samples_per_s": round(samples * passes / total, 3) if total > 0 else float("nan"),
            "cpu_share": share}


def samples_per_s(table: pd.DataFrame) -> pd.Series:
    """Throughput of each run: samples processed / slowest rank's time (one pass
    where a table has no ``passes`` column: runs from before it)."""
    passes = table["passes"] if "passes" in table.columns else 1
    return table["samples"] * passes / table["total_time_s"]


def repeat_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (nodes, processes per node): the lowest and highest
    throughput of its repeats and their relative spread (highest / lowest - 1,
    i.e. how much longer the slowest repeat took per sample than the fastest)."""
    t = table.assign(samples_per_s=samples_per_s(table))
    out = t.groupby(CONFIG_KEYS, as_index=False).agg(repeat_min_samples_per_s=("samples_per_s", "min"),
                                                     repeat_max_samples_per_s=("samples_per_s", "max"))
    low, high = out["repeat_min_samples_per_s"], out["repeat_max_samples_per_s"]
    out["repeat_spread"] = (high / low - 1).where(low > 0, 0.0)
    return out


def merge_runs(runs: list[pd.DataFrame]) -> pd.DataFrame:
    """All runs in one table, with each configuration's repeat spread as columns;
    repeats of a configuration more than 10% apart are flagged in ``notes``."""
    table = pd.concat(runs, ignore_index=True).sort_values(["world_size", "nodes", "notes"], kind="stable")
    if "passes" not in table.columns:
        table["passes"] = 1
    if "cpu_share" not in table.columns:
        table["cpu_share"] = float("nan")
    table["passes"] = table["passes"].fillna(1).astype(int)
    table["samples_per_s"] = samples_per_s(table).round(3)
    spread = repeat_spread(table)
    table = table.drop(columns=[c for c in spread.columns if c not in CONFIG_KEYS and c in table.columns])
    table = table.reset_index(drop=True).merge(spread, on=CONFIG_KEYS, how="left")
    flagged = table["repeat_spread"] > UNSTABLE
    table.loc[flagged, "notes"] += table.loc[flagged, "repeat_spread"].map(lambda s: f";repeats differ by {s:.0%}")
    table["repeat_min_samples_per_s"] = table["repeat_min_samples_per_s"].round(3)
    table["repeat_max_samples_per_s"] = table["repeat_max_samples_per_s"].round(3)
    table["repeat_spread"] = table["repeat_spread"].round(4)
    return table


def throughput_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: mean samples/s, efficiency against the smallest world
    size, memory, and the spread of its repeats (min, max, relative spread)."""
    t = table.assign(samples_per_s=samples_per_s(table))
    out = t.groupby(["world_size", "nodes", "procs_per_node", "devices"], as_index=False).agg(
        samples_per_s=("samples_per_s", "mean"), mem_mb=("gpu_mem_mb", "max"))
    base = out.loc[out["world_size"] == out["world_size"].min(), "samples_per_s"].iloc[0]
    base_ws = out["world_size"].min()
    out["speedup"] = out["samples_per_s"] / base
    out["efficiency"] = out["speedup"] / (out["world_size"] / base_ws)
    return out.merge(repeat_spread(table), on=CONFIG_KEYS, how="left")
