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
    .venv/bin/python bench/verify_throughput.py --quick   # seconds: see --quick
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from tinyscale.robustness.checkpoint import load_checkpoint, save_checkpoint
from tinyscale.config import format_eps, validate
from tinyscale.robustness.data import load_digits_split, load_samples, save_samples
from tinyscale.robustness.models import TRMConfig, TRMMLP
from tinyscale.robustness.verify import METHODS, Bounder, attack, run_cell

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


def ensure_inputs(cfg_path: Path, models: list[str]) -> tuple[dict[str, Path], Path]:
    """The pipeline's checkpoints and samples, built with Snakemake if missing."""
    ckpts = {m: ROOT / f"results/robustness/checkpoints/{m}__seed0.pt" for m in models}
    samples = ROOT / "results/robustness/samples.npz"
    if not all(p.exists() for p in [*ckpts.values(), samples]):
        targets = [str(p.relative_to(ROOT)) for p in [*ckpts.values(), samples]]
        subprocess.run([sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--configfile", str(cfg_path)],
                       cwd=ROOT, check=True)  # targets first: --configfile takes several values
    return ckpts, samples


# --quick: the same comparison on inputs made in a second (for tests and smoke runs)
QUICK_SAMPLES = 6


def quick_config(cfg: dict) -> dict:
    """The config, shrunk: one thread (tiny tensors: a second thread only waits,
    and on a busy machine spins), one eps (the grid's smallest: the attack
    falsifies some samples and leaves others to bound), 5 attack steps,
    3 alpha-CROWN iterations, batches of 4 (so batched and one-by-one differ)."""
    rob = cfg["robustness"]
    return {**cfg, "threads": 1,
            "robustness": {**rob, "eps": [min(rob["eps"])], "batch_size": 4, "attack": {**rob["attack"], "steps": 5},
                           "alpha_crown": {**rob["alpha_crown"], "iterations": 3}}}


def quick_model(ds, seed: int, steps: int = 100) -> TRMMLP:
    """A tiny TRM-MLP fitted in well under a second (full-batch Adam on the
    digits training split, ~85% test accuracy): attacks that succeed and fail
    and bounds that verify, like a real checkpoint."""
    torch.manual_seed(seed)
    model = TRMMLP(TRMConfig(input_dim=ds.input_dim, hidden=16, mlp_hidden=32, outer_cycles=1, inner_cycles=1))
    x, y = ds.tensors("train")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def quick_inputs(folder: Path, models: list[str], n: int, seed: int) -> tuple[dict[str, Path], Path]:
    """A quickly fitted checkpoint per model name and ``n`` digits test samples."""
    ds = load_digits_split(0.2, seed)
    ckpts = {m: folder / f"{m}.pt" for m in models}
    for i, (name, path) in enumerate(ckpts.items()):
        save_checkpoint(path, quick_model(ds, seed + i))
    save_samples(folder / "samples.npz", ds, n, seed)
    return ckpts, folder / "samples.npz"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    p.add_argument("--samples", type=int, default=None, help="first N of the pipeline's samples")
    p.add_argument("--quick", action="store_true",
                   help=f"seconds, not minutes: the config's models as tiny models fitted in a second, "
                        f"{QUICK_SAMPLES} samples, one eps, 5 attack steps, 3 alpha-CROWN iterations, "
                        f"one thread (the same comparison, for tests)")
    p.add_argument("--out", default=None,
                   help="default: bench/out/verify_throughput.json (verify_throughput_quick.json with --quick)")
    a = p.parse_args()
    cfg = validate(yaml.safe_load(Path(a.config).read_text()))
    if a.quick:
        cfg = quick_config(cfg)
    torch.set_num_threads(cfg["threads"])
    rob, seed, models = cfg["robustness"], cfg["seed"], list(cfg["robustness"]["training"]["models"])
    out = Path(a.out or ROOT / f"bench/out/verify_throughput{'_quick' if a.quick else ''}.json")
    with tempfile.TemporaryDirectory() as tmp:
        if a.quick:
            ckpts, samples = quick_inputs(Path(tmp), models, a.samples or QUICK_SAMPLES, seed)
        else:
            ckpts, samples = ensure_inputs(Path(a.config), models)
        compare(rob, seed, ckpts, samples, a.samples, out)


def compare(rob: dict, seed: int, ckpts: dict[str, Path], samples: Path, first: int | None, out: Path) -> None:
    """Both sides on every (model, method, eps) cell; prints and writes the summary."""
    models = list(ckpts)
    x, y, _ = load_samples(samples)
    if first:
        x, y = x[:first], y[:first]
    n = len(x)
    print(f"{len(models)} models x {len(rob['methods'])} methods x {len(rob['eps'])} eps, {n} samples, "
          f"{torch.get_num_threads()} threads", flush=True)

    rows, t_base = [], 0.0
    spent = {"build": 0.0, "attack": 0.0, "ibp": 0.0, "crown": 0.0, "alpha-crown": 0.0}
    base_spent = {m: 0.0 for m in rob["methods"]}
    for name in models:
        model = load_checkpoint(ckpts[name])
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
    print(f"speed-up pipeline / baseline: {summary['speedup']:.2f}x ({summary['pipeline_samples_per_s']} vs "
          f"{summary['baseline_samples_per_s']} samples/s), all verdicts agree: {summary['all_verdicts_agree']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "cells": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
