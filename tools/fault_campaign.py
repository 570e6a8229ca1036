"""Fault campaign: kill -9 the whole campaign at random moments and check that nothing is lost.

    python tools/fault_campaign.py                       # the embedded default, 10 kills (make faults)
    python tools/fault_campaign.py --config my.yaml --kills 3 --work /tmp/faults

It copies the checkout (its tracked files) into --work, runs the campaign (`snakemake
--profile <profile> all`) once cleanly and times it, then --kills times: starts the campaign in
a fresh folder, kill -9s its whole process group at a moment drawn (seeded) over the clean
run's duration, takes the step a user takes after a power loss (`snakemake --unlock`: a killed
Snakemake leaves its lock), and reruns the same command to the end. Each rerun is then checked:

- every result file equals the clean run's: byte for byte where the content is deterministic
  (arrays, checkpoints, text), in every deterministic column of a CSV and every deterministic
  key of a JSON file (time, memory and throughput figures differ from run to run, and are left
  out by name); figures, the PDF and the deck show such figures and are only checked to exist;
- no partially written file is left anywhere under results/ (a temporary name of
  tinyscale.io.atomic_path, or Snakemake's incomplete markers);
- how many jobs resumed from a saved training state (their logs say "resume: continuing").

It prints a line per kill and a summary, and writes it to <work>/faults.json; its exit status is
0 when every kill was survived.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the words of column and key names whose values are times, memory or throughput (or follow from
# them: how many timed passes, how much of a core a run had)
VARYING = {"date", "time", "timestamp", "seconds", "s", "mem", "memory", "mb", "passes", "speedup", "efficiency",
           "spread", "notes", "wall", "cpu", "share", "resumed"}
SHOWN = {".png", ".svg", ".pdf", ".pptx", ".html", ".log"}
SKIPPED_PARTS = {"logs", "tensorboard"}


def copy_checkout(dest: Path) -> Path:
    """The checkout's tracked files (and nothing it built: no results, no venvs)."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
                           ).stdout.decode().split("\0")
    for name in filter(None, files):
        src, dst = ROOT / name, dest / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return dest


def snakemake(checkout: Path, workdir: Path, args: list[str], config: Path | None, profile: str, cores: int,
              log: Path, session: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile"), "-d", str(workdir),
           "--profile", str(checkout / profile), "--cores", str(cores), *args]
    if config:
        cmd += ["--configfile", str(config)]
    workdir.mkdir(parents=True, exist_ok=True)
    fh = open(log, "a")
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=session)


def run_to_end(checkout, workdir, config, profile, cores, log) -> float:
    t0 = time.monotonic()
    proc = snakemake(checkout, workdir, ["all"], config, profile, cores, log)
    if proc.wait() != 0:
        raise SystemExit(f"the campaign failed in {workdir} (see {log})")
    return time.monotonic() - t0


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _varying(name: str) -> bool:
    return bool(VARYING & set(re.split(r"[^a-z0-9]+", name.lower())))


def _same(a, b) -> bool:
    """Equal loaded contents: tensors and arrays exactly, dicts but for their varying keys."""
    import numpy as np
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in a if not _varying(str(k))]
        return keys == [k for k in b if not _varying(str(k))] and all(_same(a[k], b[k]) for k in keys)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _npz(path: Path) -> dict:
    import numpy as np

    with np.load(path, allow_pickle=False) as z:      # np.savez stamps each member with the time: by array
        return {k: z[k] for k in z.files}


def _json_strip(value):
    if isinstance(value, dict):
        return {k: _json_strip(v) for k, v in value.items() if not _varying(k)}
    if isinstance(value, list):
        return [_json_strip(v) for v in value]
    return value


def compare(clean: Path, other: Path) -> dict:
    """Every result file of ``clean`` against ``other``'s: what differs, what is missing, how many
    were compared and how."""
    import pandas as pd

    import torch

    out = {"bytes": 0, "arrays": 0, "tensors": 0, "columns": 0, "keys": 0, "exists": 0, "differ": [], "missing": []}
    for a in sorted((clean / "results").rglob("*")):
        rel = a.relative_to(clean)
        if not a.is_file() or SKIPPED_PARTS & set(rel.parts):
            continue
        b = other / rel
        if not b.is_file():
            out["missing"].append(str(rel))
            continue
        if a.suffix in SHOWN:
            out["exists"] += 1
        elif a.suffix == ".csv":
            ta, tb = pd.read_csv(a), pd.read_csv(b)
            keep = [c for c in ta.columns if not _varying(c)]
            if list(ta.columns) != list(tb.columns) or not ta[keep].equals(tb[keep]):
                out["differ"].append(str(rel))
            out["columns"] += 1
        elif a.suffix == ".json":
            if _json_strip(json.loads(a.read_text())) != _json_strip(json.loads(b.read_text())):
                out["differ"].append(str(rel))
            out["keys"] += 1
        elif a.suffix == ".npz":
            if not _same(_npz(a), _npz(b)):
                out["differ"].append(str(rel))
            out["arrays"] += 1
        elif a.suffix == ".pt":
            if not _same(torch.load(a, weights_only=True), torch.load(b, weights_only=True)):
                out["differ"].append(str(rel))
            out["tensors"] += 1
        else:
            if _digest(a) != _digest(b):
                out["differ"].append(str(rel))
            out["bytes"] += 1
    return out


def partial_files(workdir: Path) -> list[str]:
    found = [str(p.relative_to(workdir)) for p in (workdir / "results").rglob("*") if ".tmp" in p.name]
    incomplete = workdir / ".snakemake" / "incomplete"
    if incomplete.is_dir():
        found += [f".snakemake/incomplete/{p.name}" for p in incomplete.iterdir()]
    return found


def resumed_jobs(workdir: Path) -> int:
    return sum("resume: continuing from step" in p.read_text(errors="replace")
               for p in (workdir / "results" / "logs").rglob("*.log"))


def kill_group(proc: subprocess.Popen) -> None:
    """kill -9 the process group (Snakemake and every job it started, torchrun's workers too)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None, help="a config file laid over config/config.yaml")
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="seeds the moments of the kills")
    p.add_argument("--work", type=Path, default=ROOT / "results" / "faults")
    p.add_argument("--profile", default="profiles/local")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    p.add_argument("--clean", type=Path, default=None, help="an existing clean run's folder (skips the clean run)")
    a = p.parse_args()
    if a.work.exists():
        shutil.rmtree(a.work)
    checkout = copy_checkout(a.work / "checkout")
    config = shutil.copy(a.config, a.work / "config.yaml") if a.config else None
    clean = a.clean
    if clean is None:
        clean = a.work / "clean"
        duration = run_to_end(checkout, clean, config, a.profile, a.cores, a.work / "clean.log")
    else:
        duration = float((clean / "duration_s").read_text()) if (clean / "duration_s").is_file() else 300.0
    print(f"clean run: {duration:.0f} s ({clean})", flush=True)
    rng = random.Random(a.seed)
    runs = []
    for k in range(1, a.kills + 1):
        workdir, log = a.work / f"kill_{k:02d}", a.work / f"kill_{k:02d}.log"
        at = rng.uniform(0.05, 0.95) * duration
        proc = snakemake(checkout, workdir, ["all"], config, a.profile, a.cores, log, session=True)
        try:
            proc.wait(timeout=at)
            finished_first = True
        except subprocess.TimeoutExpired:
            kill_group(proc)
            finished_first = False
        unlock = snakemake(checkout, workdir, ["--unlock"], config, a.profile, a.cores, log)
        unlock.wait()
        t0 = time.monotonic()
        ok_rerun = snakemake(checkout, workdir, ["all"], config, a.profile, a.cores, log).wait() == 0
        rerun_s = time.monotonic() - t0
        diff = compare(clean, workdir) if ok_rerun else {"differ": [], "missing": ["(the rerun failed)"]}
        partial = partial_files(workdir)
        run = {"kill": k, "at_s": round(at, 1), "finished_before_the_kill": finished_first, "rerun_ok": ok_rerun,
               "rerun_s": round(rerun_s, 1), "resumed_jobs": resumed_jobs(workdir), "partial": partial, **diff}
        run["survived"] = ok_rerun and not diff["differ"] and not diff["missing"] and not partial
        runs.append(run)
        print(f"kill {k}/{a.kills} at {at:.0f} s: {'survived' if run['survived'] else 'LOST'}; rerun {rerun_s:.0f} s, "
              f"{run['resumed_jobs']} job(s) resumed from a saved state; compared {diff.get('bytes', 0)} files "
              f"byte for byte, {diff.get('arrays', 0)} npz by array, {diff.get('tensors', 0)} checkpoints by tensor, "
              f"{diff.get('columns', 0)} CSVs by column, {diff.get('keys', 0)} JSON by key, "
              f"{diff.get('exists', 0)} figures/reports present; differ {diff['differ'][:5]}, "
              f"missing {diff['missing'][:5]}, partial {partial[:5]}", flush=True)
        if run["survived"]:
            shutil.rmtree(workdir, ignore_errors=True)        # keep only what failed, for a look
    survived = sum(r["survived"] for r in runs)
    summary = {"clean_s": duration, "kills": a.kills, "survived": survived, "seed": a.seed, "runs": runs}
    (a.work / "faults.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"faults survived: {survived}/{a.kills}")
    return 0 if survived == a.kills else 1


if __name__ == "__main__":
    sys.exit(main())
