"""Seed-to-seed spread of the configured training recipes (issue 10).

Trains every recipe of ``training.models`` (config/config.yaml with the schema's
defaults, as the pipeline reads it) for several training seeds on the
pipeline's data split, and prints per model the test clean accuracy and the
PGD accuracy (``training.eval_attack``) of the kept weights per seed, then
their min / mean / max / std. One process, ``--threads`` torch threads.

    .venv/bin/python bench/seed_spread.py [--seeds 5] [--models trm_std] [--threads 2]
    .venv/bin/python bench/seed_spread.py --quick        # 2 seeds, 2 epochs: a smoke run
    .venv/bin/python bench/seed_spread.py --recipe '{"warmup_epochs": 5}' --model-config '{"init": "default"}'

``--recipe`` / ``--model-config`` lay JSON over every recipe / the model
section (before validation), to compare variants without editing the config.
The table also goes to bench/out/seed_spread.json (``--out``).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))   # runnable without an installed package

from tinyscale.robustness import data           # noqa: E402
from tinyscale.config import validate           # noqa: E402
from tinyscale.robustness.training import train               # noqa: E402

QUICK_EPOCHS = 2


def merge(base: dict, over: dict) -> dict:
    """``over`` laid over ``base`` key by key (Snakemake's --configfile overlay)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(paths: list[str], recipe_over: dict, model_over: dict) -> dict:
    config: dict = {}
    for path in paths:
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    if recipe_over:
        models = config.setdefault("robustness", {}).setdefault("training", {}).setdefault("models", {})
        if not models:   # the schema's default recipes, so that the overlay has something to go on
            models.update(validate(copy.deepcopy(config))["robustness"]["training"]["models"])
        for name in models:
            models[name] = merge(models[name] or {}, recipe_over)
    if model_over:
        block = config.setdefault("robustness", {})
        block["model"] = merge(block.get("model") or {}, model_over)
    return validate(config)


def summary(values: list[float]) -> dict:
    return {"min": min(values), "mean": statistics.fmean(values), "max": max(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def table(name: str, recipe: dict, attack_name: str, runs: list[dict]) -> str:
    lines = [f"{name}: {json.dumps(recipe, sort_keys=True)}",
             f"  {'seed':>5} {'clean':>7} {attack_name:>{max(7, len(attack_name))}} {'kept':>5} {'time_s':>7}"]
    w = max(7, len(attack_name))
    for r in runs:
        lines.append(f"  {r['seed']:>5} {r['clean_acc']:>7.3f} {r['pgd_acc']:>{w}.3f} "
                     f"{r['kept_epoch']:>5} {r['time_s']:>7.1f}")
    clean, pgd = summary([r["clean_acc"] for r in runs]), summary([r["pgd_acc"] for r in runs])
    for stat in ("min", "mean", "max", "std"):
        lines.append(f"  {stat:>5} {clean[stat]:>7.3f} {pgd[stat]:>{w}.3f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", nargs="+", default=[str(ROOT / "config/config.yaml")],
                   help="config files, each laid over the one before (default: config/config.yaml)")
    p.add_argument("--seeds", type=int, default=5, help="number of training seeds")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--models", nargs="+", help="training.models names (default: all)")
    p.add_argument("--threads", type=int, choices=[1, 2],
                   help="torch threads (default 2, the default config's; --quick: 1, whose time "
                        "holds up on a busy 2-core machine where 2 threads can run 10x slower)")
    p.add_argument("--epochs", type=int, help="override every recipe's epochs")
    p.add_argument("--recipe", type=json.loads, default={}, help="JSON laid over every recipe")
    p.add_argument("--model-config", type=json.loads, default={}, help="JSON laid over the model section")
    p.add_argument("--quick", action="store_true",
                   help=f"2 seeds, {QUICK_EPOCHS} epochs: checks that it runs, not the spread")
    p.add_argument("--out", default=str(ROOT / "bench/out/seed_spread.json"))
    a = p.parse_args()
    if a.quick:
        a.seeds, a.epochs = min(a.seeds, 2), a.epochs or QUICK_EPOCHS
    a.threads = a.threads or (1 if a.quick else 2)
    torch.set_num_threads(a.threads)
    full = load_config(a.config, a.recipe, a.model_config)
    config = {**full["robustness"], "seed": full["seed"]}   # the study's block, and the data seed
    ds = data.prepare(config["data"], config["seed"])   # the pipeline's split (prepare_data)
    attack = config["training"]["eval_attack"]
    attack_name = f"PGD-{attack['steps']} eps {attack['eps']:g}"
    names = a.models or list(config["training"]["models"])
    cpu = torch.device("cpu")
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    print(f"seed spread: {ds.source} ({len(ds.y_train)} train / {len(ds.y_test)} test), model "
          f"{json.dumps(config['model'], sort_keys=True)}, seeds {seeds}, torch {torch.__version__}, "
          f"threads {a.threads}, eval {attack_name}", flush=True)
    report = {"config": a.config, "data": ds.source, "model": config["model"], "eval_attack": attack,
              "torch": torch.__version__, "threads": a.threads, "seeds": seeds, "quick": a.quick, "models": {}}
    for name in names:
        recipe = dict(config["training"]["models"][name])
        if a.epochs:
            recipe["epochs"] = a.epochs
        runs = []
        for seed in seeds:
            start = time.perf_counter()
            m = train(ds, config["model"], recipe, attack, seed, cpu,
                      config["training"]["validation_fraction"]).metrics
            runs.append({"seed": seed, "clean_acc": m["clean_acc"], "pgd_acc": m["pgd_acc"],
                         "kept_epoch": m["kept_epoch"], "time_s": time.perf_counter() - start})
            print(f"  {name} seed {seed}: clean {m['clean_acc']:.3f} pgd {m['pgd_acc']:.3f} "
                  f"({runs[-1]['time_s']:.0f} s)", file=sys.stderr, flush=True)
        print(table(name, recipe, attack_name, runs), flush=True)
        report["models"][name] = {"recipe": recipe, "runs": runs,
                                  "clean_acc": summary([r["clean_acc"] for r in runs]),
                                  "pgd_acc": summary([r["pgd_acc"] for r in runs])}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
