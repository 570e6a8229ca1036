"""Sweep throughput at 1 and 2 processes on this machine, side by side in one run.

Each process gets one thread (one core), so 2 processes use the 2 cores the
1-process run leaves half idle. The work is one sweep column of the default
config: every sample attacked at one eps, then bounded by every method
(IBP, CROWN, alpha-CROWN), sharded by batches over the ranks, timed on every
rank after start-up (throughput = samples / slowest rank, as in the seed).

    .venv/bin/python bench/scaling.py [--eps 0.08] [--model trm_adv] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="trm_adv")
    p.add_argument("--eps", type=float, default=0.08)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "bench/out/scaling.json"))
    a = p.parse_args()
    ckpt = ROOT / f"results/robustness/checkpoints/{a.model}.pt"
    samples = ROOT / "results/robustness/samples.npz"
    if not (ckpt.exists() and samples.exists()):
        subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", str(ckpt.relative_to(ROOT)),
                        str(samples.relative_to(ROOT))], cwd=ROOT, check=True)
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(1, a.repeats + 1):
            for n in (1, 2):  # interleaved, so that drift of the machine hits both alike
                out = Path(tmp) / f"{n}p_{r}.csv"
                subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                "--nproc-per-node", str(n), str(ROOT / "workflow/scripts/scaling_run.py"),
                                "--checkpoint", str(ckpt), "--samples", str(samples),
                                "--method", "ibp", "crown", "alpha-crown", "--eps", str(a.eps),
                                "--attack", json.dumps({"steps": 20, "step_size": 0.25, "restarts": 1}),
                                "--batch-size", str(a.batch_size), "--threads", "1", "--out", str(out)],
                               check=True, capture_output=True)
                row = pd.read_csv(out).iloc[0]
                times[n].append(float(row["total_time_s"]))
                print(f"  run {r}: {n} process(es) {row['total_time_s']:.2f} s", flush=True)
    samples_n = int(row["samples"])
    t1, t2 = min(times[1]), min(times[2])
    summary = {"samples": samples_n, "eps": a.eps, "model": a.model, "batch_size": a.batch_size,
               "seconds_1p": times[1], "seconds_2p": times[2],
               "samples_per_s_1p": round(samples_n / t1, 2), "samples_per_s_2p": round(samples_n / t2, 2),
               "speedup": round(t1 / t2, 3), "efficiency": round(t1 / t2 / 2, 3)}
    print(json.dumps(summary, indent=2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
