"""Train one task of the class-incremental chain from the previous task's last checkpoint.

Writes the checkpoints of the task's saved epochs (--epochs, the last one the task's
boundary: with early stopping, its best-validation weights) as state dicts, and
--history, one row per epoch (train loss and accuracy, validation loss and accuracy
on the active classes, the lr). The full training state is saved under --state-dir
every checkpoint_every_s seconds and every epoch, with the checkpoints written so
far; a rerun after a kill resumes from the last saved step.
"""
import hashlib
import shutil
from pathlib import Path

import pandas as pd

from tinyscale import cli, dist, io, runtime
from tinyscale.curvature.models import build_model
from tinyscale.curvature.training import TaskTraining, load_study_data, load_weights, save_weights, task_settings
from tinyscale.train import DeviceLoop
from tinyscale.trainer import Resume, fit


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--data", type=cli.json_arg, required=True, help="the curvature.data block (JSON)")
    p.add_argument("--model", type=cli.json_arg, required=True, help="the curvature.model block (JSON)")
    p.add_argument("--training", type=cli.json_arg, required=True, help="the curvature.training block (JSON)")
    p.add_argument("--task", type=int, required=True)
    p.add_argument("--classes", type=int, required=True, help="the task's classes: the class order's first ones")
    p.add_argument("--split", required=True, help="results/curvature/data.npz")
    p.add_argument("--order", required=True, help="results/curvature/class_order.npy")
    p.add_argument("--start", required=True, help="the checkpoint the task starts from")
    p.add_argument("--epochs", type=int, nargs="+", required=True, help="the saved epochs, in order")
    p.add_argument("--checkpoints", nargs="+", required=True, help="their files")
    p.add_argument("--history", required=True)
    p.add_argument("--state-dir", required=True)
    a = p.parse_args()
    if len(a.epochs) != len(a.checkpoints):
        raise SystemExit("--epochs and --checkpoints differ in length")
    data = load_study_data(a.data, a.seed, a.split, a.order)
    a.active = data.class_order[:a.classes].tolist()
    net = build_model(a.model, tuple(data.images.shape[1:])[0], data.n_classes)
    load_weights(a.start, net)
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    loop = DeviceLoop(world.device, world)
    task = TaskTraining(data, a.training, a.active, a.task, a.seed)
    spe = task.steps_per_epoch
    settings = task_settings(a.training, spe)
    first_epoch = a.epochs[-1] - a.training["epochs_per_task"]
    state = Path(a.state_dir)
    resume = Resume(state, {"training": settings.hashed(), "model": a.model, "data": a.data, "task": a.task,
                            "active": a.active, "seed": a.seed, "start": hashlib.sha256(Path(a.start).read_bytes()).hexdigest(),
                            "device": loop.device.type}, loop.rank, loop.world_size)
    saved = dict(zip(a.epochs, a.checkpoints))

    def on_eval(step: int, evaluated) -> None:
        epoch = first_epoch + step // spe
        if epoch in saved and epoch != a.epochs[-1] and loop.rank == 0:
            # kept under the state folder until the task ends (a failed job's cleanup keeps it)
            save_weights(state / f"epoch-{epoch}.pt", evaluated.state_dict())

    cli.log.info("task %d: classes %s, %d training and %d validation images, %d epochs of %d steps",
                 a.task, a.active, len(task.y), len(task.val_y), a.training["epochs_per_task"], spe)
    result = fit(task, net, loop, settings, resume, desc=f"task {a.task}", on_eval=on_eval)
    if loop.rank == 0:
        history = pd.DataFrame(result.history)
        history.insert(0, "epoch", first_epoch + history.pop("step") // spe)
        history.insert(1, "task", a.task)
        for epoch, path in saved.items():
            if epoch != a.epochs[-1]:
                with io.atomic_path(path) as tmp:
                    shutil.copyfile(state / f"epoch-{epoch}.pt", tmp)
        save_weights(saved[a.epochs[-1]], result.weights)
        io.write_csv(a.history, history)
        last = history.iloc[-1]
        best = "" if result.best_step is None else f"; kept epoch {first_epoch + result.best_step // spe} (best validation)"
        cli.log.info("task %d: train accuracy %.3f, validation accuracy %s%s", a.task, last["train_acc"],
                     f"{last['val_acc']:.3f}" if "val_acc" in last else "n/a", best)
        resume.clear()
        shutil.rmtree(state, ignore_errors=True)
    world.close()


if __name__ == "__main__":
    cli.run(main)
