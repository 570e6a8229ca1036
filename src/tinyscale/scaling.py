"""Scaling runs: one sweep cell's work timed over (nodes x processes), in the seed's schema.

Throughput follows the seed: samples / the slowest rank's time. Memory is
per process: peak CUDA allocation on a GPU, peak resident set on the CPU.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

COLUMNS = ["timestamp", "config", "devices", "batch", "samples", "avg_time_per_sample_s", "total_time_s",
           "gpu_mem_mb", "notes"]
UNSTABLE = 0.10  # repeats further apart than this are flagged


def devices_label(nodes: int, procs: int, kind: str) -> str:
    """``2xcpu`` on one node, ``2x1xA100`` across nodes (nodes x processes x device)."""
    if nodes == 1:
        return f"{procs}x{kind}"
    return f"{nodes}x{procs}x{kind}"


def run_row(method: str, nodes: int, procs: int, kind: str, batch: int, samples: int,
            rank_seconds: list[float], rank_mem_mb: list[float], run: int) -> dict:
    total = max(rank_seconds)
    return {"timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "config": method,
            "devices": devices_label(nodes, procs, kind), "batch": batch, "samples": samples,
            "avg_time_per_sample_s": round(total / samples, 6), "total_time_s": round(total, 4),
            "gpu_mem_mb": round(max(rank_mem_mb), 1), "notes": f"run{run}",
            "nodes": nodes, "procs_per_node": procs, "world_size": nodes * procs}


def merge_runs(runs: list[pd.DataFrame]) -> pd.DataFrame:
    """All runs in one table; repeats of a configuration more than 10% apart are flagged."""
    table = pd.concat(runs, ignore_index=True).sort_values(["world_size", "nodes", "notes"], kind="stable")
    for _, group in table.groupby(["nodes", "procs_per_node"]):
        fastest, slowest = group["total_time_s"].min(), group["total_time_s"].max()
        spread = (slowest - fastest) / fastest if fastest > 0 else 0.0
        if spread > UNSTABLE:
            table.loc[group.index, "notes"] += f";repeats differ by {spread:.0%}"
    return table.reset_index(drop=True)


def throughput_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mean samples/s, efficiency against one process, and memory per configuration."""
    t = table.assign(samples_per_s=table["samples"] / table["total_time_s"])
    out = t.groupby(["world_size", "nodes", "procs_per_node", "devices"], as_index=False).agg(
        samples_per_s=("samples_per_s", "mean"), mem_mb=("gpu_mem_mb", "max"))
    base = out.loc[out["world_size"] == out["world_size"].min(), "samples_per_s"].iloc[0]
    base_ws = out["world_size"].min()
    out["speedup"] = out["samples_per_s"] / base
    out["efficiency"] = out["speedup"] / (out["world_size"] / base_ws)
    return out
