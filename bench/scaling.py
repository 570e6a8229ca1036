"""Sweep throughput at 1 and 2 processes on this machine, side by side in one run.

Each process gets one thread (one core), so 2 processes use the 2 cores the
1-process run leaves half idle. The work is one sweep column of the default
config: every sample attacked at one eps, then bounded by every method
(IBP, CROWN, alpha-CROWN), sharded by batches over the ranks, repeated
(the same samples) until --min-seconds have passed, timed on every rank
after start-up (throughput = samples processed / slowest rank, as in the seed).

    .venv/bin/python bench/scaling.py [--eps 0.08] [--model trm_adv] [--repeats 2] [--min-seconds 10]
    .venv/bin/python bench/scaling.py --quick   # seconds: a tiny model fitted in 1 s, 8 samples, one repeat
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
ATTACK = {"steps": 20, "step_size": 0.25, "restarts": 1}
QUICK_ATTACK = {"steps": 5, "step_size": 0.25, "restarts": 1}
QUICK_ALPHA = {"iterations": 3}


def quick_inputs(folder: Path, samples: int) -> tuple[Path, Path]:
    """A tiny quickly fitted checkpoint and ``samples`` digits test samples."""
    from tinyscale.robustness.checkpoint import save_checkpoint
    from tinyscale.robustness.data import load_digits_split, save_samples
    from verify_throughput import quick_model  # bench/ is this script's import path

    ds = load_digits_split(0.2, 0)
    ckpt, npz = folder / "tiny.pt", folder / "samples.npz"
    save_checkpoint(ckpt, quick_model(ds, seed=0))
    save_samples(npz, ds, samples, 0)
    return ckpt, npz


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="trm_adv")
    p.add_argument("--eps", type=float, default=0.08)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=10.0,
                   help="each run repeats the work until this much wall time has passed (0: one pass)")
    p.add_argument("--quick", action="store_true",
                   help="seconds, not minutes: a tiny model fitted in a second, 8 samples, 5 attack steps, "
                        "3 alpha-CROWN iterations, one repeat of at least 0.5 s (the same code path, for tests)")
    p.add_argument("--out", default=None, help="default: bench/out/scaling.json (scaling_quick.json with --quick)")
    a = p.parse_args()
    attack = QUICK_ATTACK if a.quick else ATTACK
    if a.quick:
        a.batch_size, a.repeats, a.min_seconds = 4, 1, 0.5
    out_json = Path(a.out or ROOT / f"bench/out/scaling{'_quick' if a.quick else ''}.json")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        if a.quick:
            ckpt, samples = quick_inputs(Path(tmp), 8)
            a.model = "tiny (quick fit)"
        else:
            ckpt = ROOT / f"results/robustness/checkpoints/{a.model}__seed0.pt"
            samples = ROOT / "results/robustness/samples.npz"
            if not (ckpt.exists() and samples.exists()):
                subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", str(ckpt.relative_to(ROOT)),
                                str(samples.relative_to(ROOT))], cwd=ROOT, check=True)
        for r in range(1, a.repeats + 1):
            for n in (1, 2):  # interleaved, so that drift of the machine hits both alike
                out = Path(tmp) / f"{n}p_{r}.csv"
                proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                       "--nproc-per-node", str(n), str(ROOT / "workflow/scripts/robustness/scaling_run.py"),
                                       "--checkpoint", str(ckpt), "--samples", str(samples),
                                       "--method", "ibp", "crown", "alpha-crown", "--eps", str(a.eps),
                                       "--attack", json.dumps(attack), "--batch-size", str(a.batch_size),
                                       "--alpha", json.dumps(QUICK_ALPHA if a.quick else {}),
                                       "--min-seconds", str(a.min_seconds), "--repeat", str(r),
                                       "--threads", "1", "--out", str(out)],
                                      capture_output=True, text=True)
                if proc.returncode:
                    sys.exit(f"scaling run ({n} processes) failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
                row = pd.read_csv(out).iloc[0].to_dict()
                runs[n].append(row)
                print(f"  run {r}: {n} process(es) {row['passes']} passes in {row['total_time_s']:.2f} s, "
                      f"{row['samples_per_s']:.1f} samples/s", flush=True)
    samples_n = int(row["samples"])
    rate = {n: [float(x["samples_per_s"]) for x in runs[n]] for n in runs}
    best1, best2 = max(rate[1]), max(rate[2])  # the least disturbed repeat of each
    summary = {"samples": samples_n, "eps": a.eps, "model": a.model, "batch_size": a.batch_size,
               "min_seconds": a.min_seconds, "quick": a.quick,
               "seconds_1p": [x["total_time_s"] for x in runs[1]], "seconds_2p": [x["total_time_s"] for x in runs[2]],
               "passes_1p": [int(x["passes"]) for x in runs[1]], "passes_2p": [int(x["passes"]) for x in runs[2]],
               "repeat_spread_1p": round(max(rate[1]) / min(rate[1]) - 1, 4),
               "repeat_spread_2p": round(max(rate[2]) / min(rate[2]) - 1, 4),
               "samples_per_s_1p": round(best1, 2), "samples_per_s_2p": round(best2, 2),
               "speedup": round(best2 / best1, 3), "efficiency": round(best2 / best1 / 2, 3)}
    print(json.dumps(summary, indent=2))
    print(f"speed-up 2 / 1 processes: {summary['speedup']:.2f}x (efficiency {100 * summary['efficiency']:.0f}%)")
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
