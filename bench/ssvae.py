"""SSVAE training: our trainer against the seed's loop structure, and a grid point's seeds one
process each against stacked in one process, side by side in one run.

The model, objective and optimizer are the same on every side (tinyscale.ssvae.model's SSVAE
and objective, Adam at lr 1e-3: AdamW without decay is Adam); only the loop around them differs.

a) Time per epoch. Ours: tinyscale.ssvae.training.PointTraining on the core loop
   (tinyscale.trainer.fit): the dataset on the device as one tensor, a batch an index tensor
   into it, the labelled set interleaved (``balanced``, the pipeline's scheme). The seed's
   structure (:func:`seed_loop`, written plainly here): a per-item Dataset (``__getitem__``
   returns one image and its label) under DataLoader(batch_size, shuffle=True, num_workers=0),
   each batch moved to the device, supervised when ``random() < n_labels / N``, a loss.item()
   a batch (its running loss). One model at a time on both sides, the same batch, K and model.
   Two cases: the digits at the embedded default's settings (config/config.yaml's ssvae block:
   batch 64, K 8, style 10, hidden 256), and an MNIST-shaped case (60,000 images of 784 pixels,
   batch 256, 1,000 labels) whose images are random, 8-bit-like pixel values in [0, 1]: for
   timing only, nothing is learnt from them. s/epoch = the mean s/step over ``--steps`` steps
   (after a few of warm-up, no evaluation in them) x that side's steps an epoch; best of
   ``--repeats`` interleaved runs. Beside each, the batches alone (no model): an epoch of the
   seed's DataLoader (each batch moved to the device) against an epoch of ours (the index batches
   and the gather), the part of the loop in which the two structures differ.

   At the same metrics: on the digits, both trained to the default's 40 epochs at the point
   (200 labels, no corruption, alpha 50), seeds 0..``--seeds``-1, and scored by the same
   evaluation (tinyscale.ssvae.training.evaluate: test accuracy of the encoder's digit posterior).
   The like-for-like match of the seed's loop is our trainer under ``label_scheme:
   seed_per_batch``: it too makes a batch of the whole training set supervised with probability
   n_labels / N, with the true labels of whatever images it holds, so over 40 epochs it sees
   labels of nearly every image. Those two differ only in their random streams (shuffles, noise,
   the supervision draws), and their accuracies should agree within the seed-to-seed spread.
   ``balanced`` (exactly 200 labelled images, each seen once an epoch) is the study's corrected
   experiment, a different one; its accuracies are printed beside them, not compared.

b) Grid points per hour (a point: one seed of one (n_labels, corruption, alpha)). One process
   per point, as the pipeline runs it: each seed a fresh ``workflow/scripts/ssvae/train_point.py``
   (interpreter start, imports, data loading, training, metrics, metrics.json), timed from the
   outside. Stacked: one fresh process (``python -c``: the same imports and loading, then
   tinyscale.ssvae.stacked.train_stacked for S seeds, its records written to stdout) for all S.
   Both at the default block (40 epochs), the same point and threads. Rates: S x 3600 / the
   seconds of the S sequential processes, and S x 3600 / the stacked process's seconds. The
   stacked records' test accuracies must equal the lone runs' (the weights agree to ~1e-6;
   tests/test_ssvae_stacked.py).

What to expect on a CPU: the seed's DataLoader costs a Python call an image and a collate a
batch, against a model step of a few milliseconds (digits) to tens (MNIST-shaped), so the ratio
of (a) is far from the seed's GPU case, where the step is short and the per-item loader is most
of the time. Stacking gains most where a step is short (the digits: per-op overheads shared by S
models); on two shared cores it cannot add compute.

    .venv/bin/python bench/ssvae.py            # a few minutes on 2 cores
    .venv/bin/python bench/ssvae.py --quick    # seconds: tiny steps and epochs, every code path

Numbers also go to bench/out/ssvae.json (ssvae_quick.json with --quick; ``--out``).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))   # runnable without an installed package

from tinyscale.config import validate                                  # noqa: E402
from tinyscale.ssvae.data import Pixels, load                          # noqa: E402
from tinyscale.ssvae.model import Noise, objective                     # noqa: E402
from tinyscale.ssvae.run import init_model, labelled_for, train_point  # noqa: E402
from tinyscale.ssvae.training import PointTraining, evaluate, settings  # noqa: E402
from tinyscale.train import DeviceLoop                                 # noqa: E402
from tinyscale.trainer import fit                                      # noqa: E402

POINT = (200, 0.0, 50.0)            # n_labels, corruption, alpha: the default grid's most labels
MNIST_LABELS = 1000

STACKED_CHILD = """
import json, sys
from tinyscale import runtime
from tinyscale.ssvae.data import load
from tinyscale.ssvae.stacked import train_stacked
block, point, seeds, device, threads, state = json.loads(sys.argv[1])
runtime.set_threads(threads)
records = train_stacked(load(block["data"]), block, *point, seeds, device, state)
print(json.dumps([{"seed": r["seed"], "final_test_accuracy": r["final_test_accuracy"], "seconds": r["seconds"]}
                  for r in records]))
"""


class ItemDataset(Dataset):
    """The seed's dataset: one image and its label an item."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def seed_loop(net, data: Pixels, model: dict, batch: int, n_labels: int, alpha: float, seed: int, device,
              steps: int, marks: dict | None = None) -> float:
    """The seed's loop structure for ``steps`` steps (epochs of its DataLoader, the last one cut
    short): a batch supervised when random() < n_labels / N, with its true labels. Records the
    time after the steps of ``marks``' keys; returns the running loss of the last epoch."""
    net.to(device).train()
    loader = DataLoader(ItemDataset(data.train_x.cpu(), data.train_y.cpu()), batch_size=batch, shuffle=True,
                        num_workers=0, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    draw = random.Random(seed)
    noise = torch.Generator(device).manual_seed(seed)
    done, n = 0, len(data.train_y)
    while done < steps:
        running = 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            supervised = draw.random() < n_labels / n
            elbo, log_q = net(x, Noise.draw(model["k"], len(x), data.n_classes, model["style_dim"], noise, device),
                              y if supervised else None)
            loss = objective(elbo, log_q, alpha, supervised)
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
            done += 1
            if marks is not None and done in marks:
                marks[done] = _now(device)
            if done == steps:
                break
    return running


def time_seed(data, block, n_labels, alpha, warmup, steps, device) -> tuple[float, int]:
    """(s/epoch, steps an epoch) of the seed's loop."""
    t, m = block["training"], block["model"]
    marks = {warmup: None, warmup + steps: None}
    seed_loop(init_model(m, data, 0), data, m, t["batch_size"], n_labels, alpha, 0, device, warmup + steps, marks)
    per_epoch = math.ceil(len(data.train_y) / t["batch_size"])
    return (marks[warmup + steps] - marks[warmup]) / steps * per_epoch, per_epoch


def time_ours(data, block, point, warmup, steps, device) -> tuple[float, int]:
    """(s/epoch, steps an epoch) of PointTraining on the core loop (no evaluation in the steps)."""
    n_labels, corruption, alpha = point
    t = {**block["training"], "epochs": 10**6, "eval_frequency": 10**6}
    task = PointTraining(data, labelled_for(data, n_labels, corruption, 0), t, block["model"], alpha, corruption, 0)
    marks = {warmup: None, warmup + steps: None}

    def stop(done: int) -> bool:
        if done in marks:
            marks[done] = _now(device)
        return done >= warmup + steps
    fit(task, init_model(block["model"], data, 0), DeviceLoop(device), settings(t, task.steps_per_epoch),
        desc="ours", stop=stop)
    return (marks[warmup + steps] - marks[warmup]) / steps * task.steps_per_epoch, task.steps_per_epoch


def data_path(data, block, n_labels, epochs, device) -> dict:
    """s/epoch of the batches alone (no model): the seed's DataLoader (each batch to the device and
    its supervision draw) against ours (PointTraining's index batches and the gather)."""
    t = block["training"]
    loader = DataLoader(ItemDataset(data.train_x.cpu(), data.train_y.cpu()), batch_size=t["batch_size"],
                        shuffle=True, num_workers=0, generator=torch.Generator().manual_seed(0))
    draw = random.Random(0)
    start = _now(device)
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            draw.random()
    seed = (_now(device) - start) / epochs
    task = PointTraining(data, labelled_for(data, n_labels, 0.0, 0), t, block["model"], POINT[2], 0.0, 0)
    batches = task.batches(0)
    start = _now(device)
    for _ in range(epochs * task.steps_per_epoch):
        idx, labels = next(batches)
        x = data.train_x[idx]
    ours = (_now(device) - start) / epochs
    return {"seed_s_per_epoch": seed, "ours_s_per_epoch": ours, "speedup": seed / ours}


def _now(device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def mnist_shaped(images: int, seed: int = 0) -> Pixels:
    """Random 8-bit-like pixels in [0, 1] in MNIST's shape, random labels: for timing only."""
    g = torch.Generator().manual_seed(seed)
    x = lambda n: torch.randint(0, 256, (n, 784), generator=g, dtype=torch.uint8).float() / 255  # noqa: E731
    y = lambda n: torch.randint(0, 10, (n,), generator=g)                                      # noqa: E731
    return Pixels(x(images), y(images), x(1000), y(1000), (28, 28), "mnist-shaped (random pixels)")


def throughput(name, data, block, n_labels, warmup, steps, repeats, device, loader_epochs) -> dict:
    best = {"ours": math.inf, "seed": math.inf}
    for _ in range(repeats):     # interleaved, the best of each kept: the least disturbed on a shared machine
        ours, ours_steps = time_ours(data, block, (n_labels, 0.0, POINT[2]), warmup, steps, device)
        seed, seed_steps = time_seed(data, block, n_labels, POINT[2], warmup, steps, device)
        best = {"ours": min(best["ours"], ours), "seed": min(best["seed"], seed)}
    return {"case": name, "images": len(data.train_y), "pixels": data.input_dim,
            "batch": block["training"]["batch_size"], "n_labels": n_labels, "k": block["model"]["k"],
            "steps_timed": steps, "ours_steps_per_epoch": ours_steps, "seed_steps_per_epoch": seed_steps,
            "ours_s_per_epoch": best["ours"], "seed_s_per_epoch": best["seed"],
            "speedup": best["seed"] / best["ours"],
            "data_path": data_path(data, block, n_labels, loader_epochs, device)}


def accuracies(data, block, seeds, device) -> dict:
    """Test accuracies of the seed's loop and of our trainer (seed_per_batch) at the default's epochs."""
    n_labels, corruption, alpha = POINT
    m, t = block["model"], block["training"]
    steps = t["epochs"] * math.ceil(len(data.train_y) / t["batch_size"])
    per_batch = {**block, "training": {**t, "label_scheme": "seed_per_batch"}}
    out = {"seed_loop": [], "ours_seed_per_batch": []}
    for seed in seeds:
        net = init_model(m, data, seed)
        seed_loop(net, data, m, t["batch_size"], n_labels, alpha, seed, device, steps)
        out["seed_loop"].append(evaluate(net.eval(), data.test_x, data.test_y, m["k"], seed)["test_accuracy"])
        record = train_point(data, per_batch, (n_labels, corruption, alpha, seed), DeviceLoop(device))
        out["ours_seed_per_batch"].append(record["final_test_accuracy"])
    return out


def grid_rates(block, seeds, stacks, device, threads) -> dict:
    """Seconds of one fresh train_point.py process a seed, and of one stacked process per S."""
    n_labels, corruption, alpha = POINT
    lone, lone_acc = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            out = Path(tmp) / f"seed{seed}.json"
            cmd = [sys.executable, str(ROOT / "workflow/scripts/ssvae/train_point.py"), "--block", json.dumps(block),
                   "--n-labels", str(n_labels), "--corruption", str(corruption), "--alpha", str(alpha),
                   "--seed", str(seed), "--out", str(out), "--state-dir", f"{tmp}/state{seed}",
                   "--device", str(device), "--threads", str(threads)]
            t = time.perf_counter()
            _check(subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=_env()))
            lone.append(time.perf_counter() - t)
            lone_acc.append(json.loads(out.read_text())["final_test_accuracy"])
        rows = []
        for s in stacks:
            arg = json.dumps([block, list(POINT), seeds[:s], str(device), threads, f"{tmp}/stack{s}"])
            t = time.perf_counter()
            proc = _check(subprocess.run([sys.executable, "-c", STACKED_CHILD, arg], cwd=ROOT, capture_output=True,
                                         text=True, env=_env()))
            seconds = time.perf_counter() - t
            acc = [r["final_test_accuracy"] for r in json.loads(proc.stdout.strip().splitlines()[-1])]
            sequential = sum(lone[:s])
            rows.append({"seeds": s, "sequential_s": sequential, "stacked_s": seconds,
                         "sequential_points_per_hour": s * 3600 / sequential,
                         "stacked_points_per_hour": s * 3600 / seconds, "speedup": sequential / seconds,
                         "stacked_accuracy": acc, "accuracy_equal": acc == lone_acc[:s]})
    return {"lone_s": lone, "lone_accuracy": lone_acc, "stacks": rows}


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                      os.environ.get("PYTHONPATH")]))}


def _check(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        sys.exit(f"a timed process failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return proc


def _spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.3f} +- {sd:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="timing: 2 + 5 steps, 6,000 MNIST-shaped images, one repeat; 1 epoch of training, "
                        "disentanglement on 100 test images; 2 seeds, a stack of 2; one thread")
    p.add_argument("--config", default=str(ROOT / "config" / "config.yaml"),
                   help="its ssvae block (with the schema's defaults) is the default settings")
    p.add_argument("--steps", type=int, default=None, help="timed steps a case, default 300 (--quick: 5)")
    p.add_argument("--mnist-steps", type=int, default=None, help="the MNIST-shaped case's, default 150 (--quick: 5)")
    p.add_argument("--mnist-images", type=int, default=None, help="default 60000 (--quick: 6000)")
    p.add_argument("--repeats", type=int, default=None, help="best of N interleaved timings, default 2 (--quick: 1)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs, default the block's (--quick: 1)")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1, default 3 (--quick: 2)")
    p.add_argument("--stack", type=int, nargs="+", default=None,
                   help="seeds stacked in one process, one row each; default 2 3 (--quick: 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads, every process (default: all cores; --quick: 1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    q = a.quick
    if a.threads or q:
        torch.set_num_threads(a.threads or 1)
    threads = torch.get_num_threads()
    device = torch.device(a.device)
    steps, mnist_steps = a.steps or (5 if q else 300), a.mnist_steps or (5 if q else 150)
    warmup, repeats = 2 if q else 10, a.repeats or (1 if q else 2)
    seeds = list(range(a.seeds or (2 if q else 3)))
    stacks = a.stack or ([2] if q else [2, 3])
    if max(stacks) > len(seeds):
        p.error(f"--stack {max(stacks)} needs --seeds {max(stacks)} or more")

    config = validate(yaml.safe_load(Path(a.config).read_text()) or {})
    block = {k: config["ssvae"][k] for k in ("data", "model", "training", "metrics")}
    block["training"] = {k: v for k, v in block["training"].items() if k != "stack_seeds"}   # as the rules pass it
    if a.epochs or q:
        block["training"]["epochs"] = a.epochs or 1
    if q:
        block["metrics"]["test_images"] = 100
        block["model"].update(hidden=32, k=2)        # every path, at a fraction of the cost
    digits = load(block["data"]).to(device)
    mnist_block = copy.deepcopy(block)
    mnist_block["training"]["batch_size"] = 256
    mnist = mnist_shaped(a.mnist_images or (6000 if q else 60000)).to(device)

    t_all = time.perf_counter()
    rows = [throughput(f"{digits.name} (default block)", digits, block, POINT[0], warmup, steps, repeats, device,
                       1 if q else 10),
            throughput(mnist.name, mnist, mnist_block, MNIST_LABELS, warmup, mnist_steps, repeats, device, 1)]
    acc = accuracies(digits, block, seeds, device)
    grid = grid_rates(block, seeds, stacks, device, threads)
    acc["ours_balanced"] = grid["lone_accuracy"]
    summary = {"quick": q, "device": str(device), "threads": threads, "point": list(POINT),
               "model": block["model"], "epochs": block["training"]["epochs"], "seeds": seeds,
               "throughput": rows, "accuracy": acc, "grid": grid, "seconds": time.perf_counter() - t_all}

    print(f"SSVAE, {device}, {threads} threads; model hidden {block['model']['hidden']}, style "
          f"{block['model']['style_dim']}, K {block['model']['k']}; Adam lr 1e-3")
    print("a) time per epoch, ours (PointTraining + fit, data on the device) vs the seed's loop "
          f"(per-item Dataset, DataLoader num_workers=0); best of {repeats}")
    for r in rows:
        print(f"  {r['case']}: {r['images']} images x {r['pixels']} pixels, batch {r['batch']}, "
              f"{r['n_labels']} labels, {r['steps_timed']} steps timed")
        print(f"    seed's loop {r['seed_s_per_epoch']:8.3f} s/epoch ({r['seed_steps_per_epoch']} steps)   "
              f"ours {r['ours_s_per_epoch']:8.3f} s/epoch ({r['ours_steps_per_epoch']} steps)   "
              f"speed-up {r['speedup']:.2f}x")
        d = r["data_path"]
        print(f"    the batches alone: seed's DataLoader {d['seed_s_per_epoch']:8.4f} s/epoch   "
              f"ours {d['ours_s_per_epoch']:8.4f} s/epoch   speed-up {d['speedup']:.1f}x")
    print("  (the MNIST-shaped images are random pixels: timing only)")
    print(f"  at the same metrics: digits, {POINT[0]} labels, alpha {POINT[2]:g}, {block['training']['epochs']} "
          f"epochs, seeds {seeds}: test accuracy")
    for key, label in [("seed_loop", "seed's loop (random() < n/N a batch)"),
                       ("ours_seed_per_batch", "ours, label_scheme seed_per_batch (like-for-like)"),
                       ("ours_balanced", "ours, balanced (the study's scheme; another experiment)")]:
        print(f"    {label:55} {' '.join(f'{v:.3f}' for v in acc[key])}   mean {_spread(acc[key])}")
    gap = abs(statistics.mean(acc["seed_loop"]) - statistics.mean(acc["ours_seed_per_batch"]))
    print(f"    seed's loop vs ours (seed_per_batch): mean difference {gap:.3f}")
    print(f"b) grid points per hour (a point: one seed), {block['training']['epochs']} epochs, fresh processes")
    print(f"    one train_point.py process a seed: {' '.join(f'{s:.1f}' for s in grid['lone_s'])} s")
    for r in grid["stacks"]:
        print(f"    {r['seeds']} seeds: one a process {r['sequential_s']:7.1f} s = "
              f"{r['sequential_points_per_hour']:7.0f} points/h   stacked in one {r['stacked_s']:7.1f} s = "
              f"{r['stacked_points_per_hour']:7.0f} points/h   speed-up {r['speedup']:.2f}x   "
              f"accuracies equal: {r['accuracy_equal']}")
    per_case = ", ".join(f"{r['case']} {r['speedup']:.2f}x" for r in rows)
    per_stack = ", ".join(f"{r['seeds']} seeds {r['speedup']:.2f}x" for r in grid["stacks"])
    print(f"speed-up ours / seed's loop: {per_case}; stacked / one a process: {per_stack}")
    out = Path(a.out or ROOT / f"bench/out/ssvae{'_quick' if q else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
