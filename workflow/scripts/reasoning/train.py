"""Train one experiment of the reasoning study (TRM, HRM or a transformer) on a Sudoku dataset folder.

Writes into --out: model.pt (the evaluated weights: the EMA's when on,
weights_only), metrics.csv (train and test metrics per evaluation),
eval.json (the final test metrics beside the copy-the-givens baseline) and
tensorboard/. The full training state is saved under --state-dir (beside the
outputs) every checkpoint_every_s seconds and at each evaluation, keyed by a
hash of the settings; a rerun resumes from it, and a finished run removes it.

Runs alone, under torchrun or srun (DDP), or with ``--device xla`` on the XLA
device(s) (.venv-tpu), one process per device started by torch_xla.launch.
"""
import math
import os
import shutil
from pathlib import Path

import pandas as pd

from tinyscale import cli, dist, io, runtime
from tinyscale.errors import ConfigError
from tinyscale.reasoning import dataset, supervision
from tinyscale.reasoning.models import flops_per_example
from tinyscale.reasoning.training import prepare, save_model
from tinyscale.train import DeviceLoop
from tinyscale.trainer import Resume, fit


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", required=True, help="the dataset folder (train/ and test/)")
    p.add_argument("--model", type=cli.json_arg, required=True, help="the experiment's model block (JSON)")
    p.add_argument("--training", type=cli.json_arg, required=True, help="its training block (JSON)")
    p.add_argument("--out", required=True, help="the experiment's folder, e.g. results/reasoning/trm-6x6")
    p.add_argument("--state-dir", required=True, help="where the resumable state lives")
    p.add_argument("--scaling", choices=["off", "sqrt"], default="off",
                   help="sqrt: global batch x world size, lr x sqrt(world size) (seed 002)")
    a = p.parse_args()
    # every input is read and checked before anything is written
    splits = {name: dataset.load_split(Path(a.data) / name) for name in ("train", "test")}
    if a.device == "xla":
        try:
            from tinyscale import xla  # torch_xla: only in .venv-tpu
        except ImportError as err:
            raise ConfigError(f"device 'xla' needs torch_xla ({err}): set it up with `make tpu-setup` "
                              "and run this script with .venv-tpu/bin/python") from err
        xla.launch(run, a, splits, seed=a.seed, threads=a.threads)
        return
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    run(DeviceLoop(world.device, world), a, splits)
    world.close()


def run(loop: DeviceLoop, a, splits: dict) -> None:
    meta = splits["train"]["metadata"]
    r = prepare(loop, splits, a.model, a.training, a.seed, a.scaling)
    cfg, settings, batch, test = r.cfg, r.settings, r.batch, r.task.test
    run_key = {"model": cfg.as_dict(), "training": settings.hashed(), "batch": batch, "seed": a.seed,
               "data": a.data, "train_meta": meta, "device": loop.device.type}
    resume = Resume(a.state_dir, run_key, loop.rank, loop.world_size)
    tb_work = Path(a.state_dir) / "tensorboard"
    cli.log.info("%s %s: %d parameters; %d steps of global batch %d (%d processes, %s), eval every %d",
                 r.name, cfg.mixer, r.parameters, settings.steps, batch, loop.world_size, loop.device.type,
                 settings.eval_every)
    result = fit(r.task, r.core, loop, settings, resume, tb_work, desc=f"train {r.name}")
    if loop.rank != 0:
        return
    side = math.isqrt(meta["seq_len"])
    final = {k.removeprefix("test_"): v for k, v in result.history[-1].items() if k.startswith("test_")}
    report = {"experiment": Path(a.out).name, "dataset": a.data, "test_puzzles": len(test.inputs),
              "test": final, "copy_baseline": supervision.copy_baseline(test.inputs, test.labels),
              "data": {"board": f"{side}x{side}", "train_puzzles": r.task.train.groups,
                       "train_examples": len(r.task.train.inputs)},
              "flops_per_example": flops_per_example(cfg), "parameters": r.parameters, "steps": settings.steps,
              "global_batch": batch, "lr": settings.lr,
              "world_size": loop.world_size, "device": device_kind(loop), "precision": settings.precision,
              "seed": a.seed, "resumed_from_step": result.resumed_from, "train_seconds": result.seconds,
              "model": cfg.as_dict(), "training": a.training, **loop.extra_metrics()}
    out = Path(a.out)
    io.write_csv(out / "metrics.csv", pd.DataFrame(result.history))
    io.write_json(out / "eval.json", report)
    _replace_dir(tb_work, out / "tensorboard")
    save_model(out / "model.pt", cfg, result.weights, {k: report[k] for k in ("experiment", "test", "seed")})
    resume.clear()
    if Path(a.state_dir).is_dir() and not any(Path(a.state_dir).iterdir()):
        Path(a.state_dir).rmdir()
    cli.log.info("test exact accuracy %.3f, token %.3f, blank cells %.3f (copy baseline: exact %.3f, token %.3f)",
                 final["exact_acc"], final["token_acc"], final["blank_acc"],
                 report["copy_baseline"]["exact_acc"], report["copy_baseline"]["token_acc"])


def device_kind(loop: DeviceLoop) -> str:
    return "xla" if loop.device.type == "xla" else runtime.device_kind(loop.device)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the folder ``src`` onto ``dst`` (replacing it)."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


if __name__ == "__main__":
    cli.run(main)
