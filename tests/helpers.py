"""What the end-to-end tests share: the tiny config and how they call Snakemake."""
from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]

TINY = {
    "name": "tiny",
    "threads": 1,
    "robustness": {
        "model": {"hidden": 32, "mlp_hidden": 64},
        "training": {
            "eval_attack": {"eps": 0.1, "steps": 2, "step_size": 0.5},
            "models": {
                "trm_std": {"epochs": 3},
                "trm_adv": {"epochs": 3, "adversarial": {"eps": 0.1, "steps": 2, "step_size": 0.5},
                            "select": "best_adversarial"},
            },
        },
        "samples": 8, "eps": [0.05], "batch_size": 4, "attack": {"steps": 5},
        "alpha_crown": {"iterations": 3},
        "scaling": {"min_seconds": 0, "repeats": 2},   # config/config.yaml's 1 would merge in
    },
    "reasoning": {
        "datasets": {"sudoku-4x4": {"source": "generate", "size": 4, "givens": [6, 8], "train_puzzles": 20,
                                    "test_puzzles": 10, "augmentations": 3}},
        "model": {"hidden": 16, "L_layers": 1, "H_cycles": 2, "L_cycles": 1, "halt_max_steps": 2},
        "training": {"epochs": 8, "eval_interval": 4, "batch_size": 16, "warmup_steps": 2},
        "experiments": {"trm-tiny": {"dataset": "sudoku-4x4"},
                        "hrm-tiny": {"dataset": "sudoku-4x4",
                                     "model": {"arch": "hrm", "act": "q_learning", "mixer": "attention",
                                               "H_layers": 1, "puzzle_emb_len": 1}}},
        "suites": {"architecture": ["trm-tiny", "hrm-tiny"]},
        "scaling": {"min_seconds": 0, "repeats": 1},
    },
    # 2 tasks of 4 epochs; over seeds 0-4 the last epoch's curvature AUROC for the mislabelled
    # images spread 0.67-0.79 (the embedded default's 30-epoch tasks: 0.954-0.967)
    "curvature": {
        "classes": {"first": 2, "per_task": 2, "tasks": 2},
        "model": {"widths": [8, 16], "blocks": [1, 1]},
        "training": {"epochs_per_task": 4, "checkpoint_every": 4, "lr_milestones": [1, 2, 3]},
        "scaling": {"min_seconds": 0, "repeats": 1},
    },
    # 4 points (20 and 50 labels x seeds 0 and 1) of 5 epochs of a small net; over seeds 0-4 the
    # test accuracy spread 0.48-0.61 with 20 labels and 0.62-0.66 with 50 (chance: 0.1)
    "ssvae": {
        "model": {"hidden": 64, "style_dim": 4, "k": 2},
        "training": {"epochs": 5, "eval_frequency": 1},
        "grid": {"seeds": [0, 1], "slices": {"labels": {"n_labels": [20, 50], "corruption": [0], "alpha": [50]}}},
        "metrics": {"test_images": 200},
        "scaling": {"min_seconds": 0, "repeats": 1},
    },
}


def with_robustness(config: dict, **block) -> dict:
    """``config`` with keys of its robustness block replaced."""
    return {**config, "robustness": {**config["robustness"], **block}}


def smk(workdir: Path, config: dict, *args: str, check: bool = True, prefix: tuple[str, ...] = (),
        timeout: float = 900) -> subprocess.CompletedProcess:
    """Snakemake on ``config`` in ``workdir``: on 2 local cores unless ``args``
    name a profile; ``prefix`` is e.g. a ``timeout -k`` wrapper."""
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))   # the config's order: experiments, suites
    cores = [] if "--profile" in args else ["--cores", "2"]
    proc = subprocess.run([*prefix, *SNAKEMAKE, *cores, "-d", str(workdir), *args, "--configfile", str(cfg)],
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts from a dry run's 'Job stats' table."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {name: int(count) for name, count in (line.split() for line in table) if name != "total"}


_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write ``array`` as an IDX file (big-endian header and data), gzipped if asked."""
    array = np.asarray(array)
    code = _CODES[array.dtype.kind + str(array.dtype.itemsize)]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


SCRIPTS = ROOT / "workflow" / "scripts"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


def tiny_inputs(folder: Path, samples: int = 8) -> dict[str, Path]:
    """What the robustness scripts read, as small as they come: the digits
    dataset, ``samples`` verification samples, an untrained tiny TRM-MLP
    checkpoint and its attack npz (eps 0.05). Seconds to build."""
    import torch

    from tinyscale.robustness.checkpoint import save_checkpoint
    from tinyscale.robustness.data import load_digits_split, load_samples, save, save_samples
    from tinyscale.io import write_npz
    from tinyscale.robustness.models import TRMConfig, TRMMLP
    from tinyscale.robustness.verify import attack

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.{ext}" for name, ext in
             (("data", "npz"), ("samples", "npz"), ("checkpoint", "pt"), ("attack", "npz"))}
    ds = load_digits_split(0.2, 0)
    save(paths["data"], ds)
    save_samples(paths["samples"], ds, samples, 0)
    torch.manual_seed(0)
    model = TRMMLP(TRMConfig(input_dim=ds.input_dim, hidden=8, mlp_hidden=16, outer_cycles=1,
                             inner_cycles=1)).eval()
    save_checkpoint(paths["checkpoint"], model)
    x, y, _ = load_samples(paths["samples"])
    atk = attack(model, x, y, 0.05, {"steps": 3, "step_size": 0.25, "restarts": 1}, 0,
                 np.arange(len(x)), batch_size=4)
    write_npz(paths["attack"], **atk.save_arrays())
    return paths


def run_script(name: str, *args, prefix: tuple[str, ...] = (sys.executable,),
               timeout: float = 300) -> subprocess.CompletedProcess:
    """workflow/scripts/<name> with ``args`` (str()-ed), its output captured;
    ``prefix``: the launcher (e.g. TORCHRUN + ["--nproc-per-node", "2"])."""
    return subprocess.run([*prefix, str(SCRIPTS / name), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def write_scaling(path: Path, config: str, batch: int, samples: int, mem_mb: float,
                  rates: tuple[tuple[int, float], ...] = ((1, 1000.0), (2, 1600.0))) -> Path:
    """A study's scaling/scaling.csv of one run per process count (samples/s ``rates``; the
    2-process run noted as having had less than a core), through the core's merge."""
    import pandas as pd

    from tinyscale.scaling import merge_runs

    runs = [pd.DataFrame([{"timestamp": "2026-11-26T10:00:00", "config": config, "devices": f"{p}xcpu",
                           "batch": batch, "samples": samples, "avg_time_per_sample_s": 0,
                           "total_time_s": samples / rate, "gpu_mem_mb": mem_mb,
                           "notes": "run1" + (";cpu shared (70% of a core)" if p == 2 else ""),
                           "nodes": 1, "procs_per_node": p, "world_size": p, "passes": 1}])
            for p, rate in rates]
    path.parent.mkdir(parents=True, exist_ok=True)
    merge_runs(runs).to_csv(path, index=False)
    return path


def build_reports(part, record: dict, folder: Path) -> dict[str, Path]:
    """The PDF and the deck of one section (``part``) under ``folder``, as the report script builds them."""
    from tinyscale.report import pdf, slides

    out = {"pdf": folder / "report.pdf", "slides": folder / "slides.pptx"}
    pdf.build([part], record, out["pdf"])
    slides.build([part], record, out["slides"])
    return out


def run_in_process(name: str, *args) -> None:
    """workflow/scripts/<name> with ``args``, run in this process as its own ``__main__`` (the
    imports are paid once a session, not a few seconds a call): for fixtures that build a
    study's files. Its failure (a non-zero exit) raises; its logging setup is undone."""
    import logging
    import runpy

    root, argv = logging.getLogger(), sys.argv
    handlers, level = root.handlers[:], root.level
    sys.argv = [str(SCRIPTS / name), *map(str, args)]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        if exit_.code:
            raise AssertionError(f"{name} exited with status {exit_.code}") from None
    finally:
        sys.argv = argv
        root.handlers[:] = handlers
        root.setLevel(level)


def assert_deck_is_legible(path: Path) -> None:
    """Every shape of the deck on its slide, apart from the others (arrows touch what they join),
    and no text under 12 pt."""
    from pptx import Presentation
    from pptx.shapes.connector import Connector
    from pptx.util import Pt

    deck = Presentation(path)
    for number, slide in enumerate(deck.slides, 1):
        boxes = [sh for sh in slide.shapes if not isinstance(sh, Connector)]
        for sh in boxes:
            assert sh.left >= 0 and sh.top >= 0, (number, sh.name)
            assert sh.left + sh.width <= deck.slide_width and sh.top + sh.height <= deck.slide_height, (number, sh.name)
            frames = [c.text_frame for row in sh.table.rows for c in row.cells] if sh.has_table else (
                [sh.text_frame] if sh.has_text_frame else [])
            for frame in frames:
                for p in frame.paragraphs:
                    for r in p.runs:
                        assert r.font.size is None or r.font.size >= Pt(12), (number, sh.name, r.text)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                apart = (a.left + a.width <= b.left or b.left + b.width <= a.left
                         or a.top + a.height <= b.top or b.top + b.height <= a.top)
                assert apart, f"slide {number}: {a.name} overlaps {b.name}"
