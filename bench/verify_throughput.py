"""Batched sweep vs the seed's one-sample-at-a-time loop, side by side in one run.

Both sides get the same checkpoints, samples, eps grid, methods and attack
and bound settings (those of the config, default: config/config.yaml).

- baseline (the seed's way): for every cell and every sample, alone: the
  clean prediction, the PGD attack, and if the attack fails, a bounded
  module built for that sample (as the seed's verifier does on every call)
  and its bound. Same spec, box, attack and bound settings as the pipeline,
  so that verdicts are comparable.
- pipeline (what the rules run): per (model, eps) one batched attack shared
  by all methods; per cell batched bounds for the samples the attack did not
  falsify; alpha-CROWN only for samples CROWN left undecided.

Prints samples/s of both, the ratio, and whether every verdict agrees
(per sample, hence per cell counts too). Checkpoints and samples come from
the pipeline (built with Snakemake if missing).

    .venv/bin/python bench/verify_throughput.py [--config config/config.yaml] [--samples N]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from tinyscale.checkpoint import load_checkpoint
from tinyscale.config import format_eps, validate
from tinyscale.data import load_samples
from tinyscale.verify import METHODS, Bounder, attack, run_cell

ROOT = Path(__file__).resolve().parents[1]


def baseline_cell(model, method, x, y, eps, rob, seed):
    """The seed's loop: each sample alone, attack first, then its bound."""
    verdicts = []
    for i in range(len(x)):
        xi, yi = x[i:i + 1], y[i:i + 1]
        one = attack(model, xi, yi, eps, rob["attack"], seed, np.array([i]), batch_size=1)
        bounder = Bounder(model, x.shape[1], method, rob["alpha_crown"]) if one.falsified.sum() == 0 else None
        rows = run_cell(bounder, xi, yi, eps, one, batch_size=1, timeout_s=rob["timeout_s"])
        verdicts.append(rows["verdict"].iat[0])
    return np.array(verdicts, dtype=object)


def pipeline_model(model, bounders, x, y, eps_grid, methods, rob, seed, spent):
    """What the rules compute for one model: {(method, eps): verdicts}.

    Adds the seconds of each part (attack, each method) to ``spent``.
    """
    out = {}
    for eps in eps_grid:
        t0 = time.perf_counter()
        atk = attack(model, x, y, eps, rob["attack"], seed, np.arange(len(x)), rob["batch_size"])
        spent["attack"] += time.perf_counter() - t0
        crown = None
        for method in sorted({*methods, "crown"} if "alpha-crown" in methods else methods,
                             key=["ibp", "crown", "alpha-crown"].index):
            t0 = time.perf_counter()  # alpha-CROWN's rule reads CROWN's cell: CROWN always runs first
            rows = run_cell(bounders[method], x, y, eps, atk, rob["batch_size"], rob["timeout_s"],
                            crown if method == "alpha-crown" else None)
            spent[method] += time.perf_counter() - t0
            if method == "crown":
                crown = rows
            out[method, eps] = rows["verdict"].to_numpy()
    return out


def ensure_inputs(cfg_path: Path, models: list[str]) -> None:
    targets = [f"results/robustness/checkpoints/{m}.pt" for m in models] + ["results/robustness/samples.npz"]
    if all((ROOT / t).exists() for t in targets):
        return
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg_path),
                    *targets], cwd=ROOT, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    p.add_argument("--samples", type=int, default=None, help="first N of the pipeline's samples")
    p.add_argument("--out", default=str(ROOT / "bench/out/verify_throughput.json"))
    a = p.parse_args()
    cfg = validate(yaml.safe_load(Path(a.config).read_text()))
    torch.set_num_threads(cfg["threads"])
    rob, seed, models = cfg["robustness"], cfg["seed"], list(cfg["training"]["models"])
    ensure_inputs(Path(a.config), models)
    x, y, _ = load_samples(ROOT / "results/robustness/samples.npz")
    if a.samples:
        x, y = x[:a.samples], y[:a.samples]
    n = len(x)
    print(f"{len(models)} models x {len(rob['methods'])} methods x {len(rob['eps'])} eps, {n} samples, "
          f"{torch.get_num_threads()} threads", flush=True)

    rows, t_base = [], 0.0
    spent = {"build": 0.0, "attack": 0.0, "ibp": 0.0, "crown": 0.0, "alpha-crown": 0.0}
    base_spent = {m: 0.0 for m in rob["methods"]}
    for name in models:
        model = load_checkpoint(ROOT / f"results/robustness/checkpoints/{name}.pt")
        start = time.perf_counter()
        bounders = {m: Bounder(model, x.shape[1], m, rob["alpha_crown"]) for m in {*rob["methods"], "crown"}}
        spent["build"] += (time.perf_counter() - start) * len(rob["eps"])  # the rules build one per cell
        fast = pipeline_model(model, bounders, x, y, rob["eps"], rob["methods"], rob, seed, spent)
        for method in rob["methods"]:
            for eps in rob["eps"]:
                t0 = time.perf_counter()
                slow = baseline_cell(model, method, x, y, eps, rob, seed)
                dt = time.perf_counter() - t0
                t_base += dt
                base_spent[method] += dt
                agree = bool((slow == fast[method, eps]).all())
                counts = {v: int((fast[method, eps] == v).sum()) for v in ("verified", "falsified", "unknown")}
                rows.append({"model": name, "method": METHODS[method][1], "eps": format_eps(eps),
                             "baseline_s": round(dt, 2), "verdicts_agree": agree, **counts})
                print(f"  {name:8s} {METHODS[method][1]:12s} eps={format_eps(eps):5s} baseline {dt:7.2f} s  "
                      f"{counts}  agree={agree}", flush=True)
    total = len(rows) * n
    t_pipe = sum(spent.values())
    table = pd.DataFrame(rows)
    summary = {
        "cells": len(rows), "samples_per_cell": n, "threads": torch.get_num_threads(),
        "baseline_s": round(t_base, 2), "pipeline_s": round(t_pipe, 2),
        "baseline_samples_per_s": round(total / t_base, 2), "pipeline_samples_per_s": round(total / t_pipe, 2),
        "speedup": round(t_base / t_pipe, 2), "all_verdicts_agree": bool(table["verdicts_agree"].all()),
        "baseline_s_by_method": {k: round(v, 2) for k, v in base_spent.items()},
        "pipeline_s_by_part": {k: round(v, 2) for k, v in spent.items()},
        "cells_disagreeing": table.loc[~table["verdicts_agree"], ["model", "method", "eps"]].to_dict("records"),
    }
    print(json.dumps(summary, indent=2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"summary": summary, "cells": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
