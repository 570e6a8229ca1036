"""What starting Snakemake costs: a dry run of the default DAG against `snakemake --version`.

Snakemake parses the Snakefile (and everything its rules files import) at every start:
each `snakemake` call, and every Slurm job's own parse. The goal (issue 11) is a dry
run within 1.5 s of `snakemake --version`, whatever the number of studies.

  python bench/startup.py [--repeats 5] [--compare-with <other checkout>] [--quick]

Runs the commands interleaved, `--repeats` times each, in a fresh empty working directory
(so the dry run plans the whole default DAG), and prints min / median / max and the
difference of the medians. --compare-with times the same dry run of another checkout
(e.g. a `git worktree` of an older commit) side by side. --quick: one repeat.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--compare-with", type=Path, help="another checkout whose dry run is timed alongside")
    p.add_argument("--quick", action="store_true", help="one repeat (checks that it runs)")
    p.add_argument("--out", default=str(ROOT / "bench/out/startup.json"))
    a = p.parse_args()
    repeats = 1 if a.quick else a.repeats
    commands = {"snakemake --version": [*SNAKEMAKE, "--version"],
                "dry run of all (this checkout)": [*SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-n", "all"]}
    if a.compare_with:
        commands["dry run of all (compared checkout)"] = [*SNAKEMAKE, "-s", str(a.compare_with / "Snakefile"),
                                                          "-n", "all"]
    envs = {name: None for name in commands}
    if a.compare_with:   # the other checkout's own library, not the one installed from this checkout
        envs["dry run of all (compared checkout)"] = {**os.environ, "PYTHONPATH": str(a.compare_with / "src")}
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name, cmd in commands.items():   # interleaved: a slow moment hits every command alike
                workdir = Path(tempfile.mkdtemp(dir=tmp))
                times[name].append(timed(cmd, workdir, envs[name]))
    stats = {name: {"min": min(t), "median": statistics.median(t), "max": max(t)} for name, t in times.items()}
    width = max(map(len, stats))
    print(f"{'command':<{width}}  {'min':>6} {'median':>6} {'max':>6}  (seconds, {repeats} runs each)")
    for name, s in stats.items():
        print(f"{name:<{width}}  {s['min']:>6.2f} {s['median']:>6.2f} {s['max']:>6.2f}")
    base = stats["snakemake --version"]["median"]
    summary = {"repeats": repeats, "stats": stats,
               "dry_run_over_version_s": stats["dry run of all (this checkout)"]["median"] - base}
    print(f"dry run - version: {summary['dry_run_over_version_s']:+.2f} s (goal: within 1.5 s)")
    if a.compare_with:
        other = stats["dry run of all (compared checkout)"]["median"]
        summary["compared_over_version_s"] = other - base
        summary["speedup"] = other / stats["dry run of all (this checkout)"]["median"]
        print(f"compared checkout's dry run - version: {summary['compared_over_version_s']:+.2f} s; "
              f"this checkout's dry run is {summary['speedup']:.2f}x as fast")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
