"""Bad input, through Snakemake: one case a row. Each must give one error line naming the file or
config key and what is wrong, a non-zero exit, no traceback in what the user reads (Snakemake's
output, which shows a failed job's log), every result that existed before unchanged, and no
partial file. The cases share one working folder whose results (the robustness dataset and an
SSVAE point) are checksummed around every case."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from helpers import TINY, smk, write_idx
from test_curvature_data import write_cifar

POINT = "results/ssvae/runs/n_labels~20/corruption~0.0/alpha~50.0/seed~0/metrics.json"
CURV_EPOCHS = (0, 4, 8)     # TINY's analysed epochs (2 tasks of 4 epochs)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A campaign folder with results to keep: the robustness dataset and one SSVAE point."""
    d = tmp_path_factory.mktemp("bad_input")
    smk(d, TINY, "results/robustness/data/digits.npz", POINT)
    return d


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Where the cases' bad files go (outside the campaign folder)."""
    return tmp_path_factory.mktemp("bad_files")


def checksums(folder: Path) -> dict[str, str]:
    """Every file under results/ but the logs (a failed job writes its log) and Snakemake's own."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "results").rglob("*")) if p.is_file() and "logs" not in p.parts}


# ---------------------------------------------------------------- the bad files

def curvature_checkpoints(folder: Path, bad: Callable[[Path], None] | None = None) -> Path:
    """The tiny config's checkpoints as a user's folder; ``bad`` spoils the epoch-4 file."""
    import copy

    from tinyscale.config import validate
    from tinyscale.curvature.models import build_model

    block = validate(copy.deepcopy(TINY))["curvature"]
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    state = build_model(block["model"], 1, 10).state_dict()
    for e in CURV_EPOCHS:
        torch.save(state, folder / f"index-0_epoch-{e}.pt")
    if bad:
        bad(folder / "index-0_epoch-4.pt")
    return folder


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


class Payload:
    """A pickled object whose loading would create ``marker``: weights_only must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def pickled_object(path: Path) -> None:
    torch.save({"conv1.weight": Payload(path.with_suffix(".ran"))}, path)


def wrong_shapes(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["conv1.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(state, path)


def mnist(folder: Path, break_it: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 120), ("t10k", 30)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)
    if break_it:
        truncate(folder / "t10k-labels-idx1-ubyte", 0.9)
    return folder


def sudoku_csv(folder: Path) -> Path:
    from tinyscale.reasoning import sudoku as S

    folder.mkdir(parents=True, exist_ok=True)
    b9 = S.BOARDS[9]
    puzzles, solutions = S.generate(4, b9, (28, 34), seed=11)
    rows = [f"s,{S.format_grid(p, b9)},{S.format_grid(s, b9)},{k}"
            for k, (p, s) in enumerate(zip(puzzles, solutions))]
    rows[2] = rows[2].replace(",", ",7", 1)            # row 3: an 82-character question
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text("\n".join(["source,question,answer,rating", *rows]) + "\n")
    return folder


def order_file(path: Path, order) -> Path:
    np.save(path, np.asarray(order))
    return path


# ---------------------------------------------------------------- the cases

@dataclass
class Case:
    name: str
    config: Callable[[Path], dict]          # the config, given the folder for bad files
    target: str
    says: list[str]                          # what the one error line holds (the file or key, and what)
    setup: Callable[[Path, Path], None] = field(default=lambda work, files: None)


def _with(study: str, **block) -> Callable[[Path], dict]:
    return lambda files: {**TINY, study: {**TINY[study], **block}}


def _resolved(value, files: Path):
    """``value`` with every function in it called with the folder for bad files."""
    if callable(value):
        return value(files)
    if isinstance(value, dict):
        return {k: _resolved(v, files) for k, v in value.items()}
    return value


def _curv(**block) -> Callable[[Path], dict]:
    return lambda files: {**TINY, "curvature": {**TINY["curvature"], **_resolved(block, files)}}


CASES = [
    # config: typos, wrong types, impossible values, in each study's block and the core's
    Case("core wrong type", lambda f: {**TINY, "threads": "two"}, "all", ["config key 'threads'"]),
    Case("robustness typo", _with("robustness", smaples=8), "all", ["config key 'robustness.smaples'"]),
    Case("robustness impossible", _with("robustness", eps=[-0.1]), "all", ["config key 'robustness.eps[0]'"]),
    Case("reasoning typo", lambda f: {**TINY, "reasoning": {**TINY["reasoning"], "training": {"lr": 1e-3, "epoch": 3}}},
         "all", ["config key 'reasoning.training.epoch'"]),
    Case("reasoning unknown override key", lambda f: {**TINY, "reasoning": {**TINY["reasoning"], "experiments": {
        "e": {"dataset": "sudoku-4x4", "modle": {"hidden": 8}}}}}, "all", ["config key 'reasoning.experiments.e", "modle"]),
    Case("curvature impossible", _with("curvature", classes={"first": 2, "per_task": 2, "tasks": 6}), "all",
         ["config key 'curvature.classes'"]),
    Case("curvature wrong type", _with("curvature", training={"lr": "fast"}), "all",
         ["config key 'curvature.training.lr'"]),
    Case("ssvae typo", _with("ssvae", trainng={"epochs": 2}), "all", ["config key 'ssvae.trainng'"]),
    Case("ssvae impossible", _with("ssvae", grid={"seeds": [0], "slices": {"s": {
        "n_labels": [20], "corruption": [1.5], "alpha": [50]}}}), "all", ["config key 'ssvae.grid.slices.s.corruption"]),
    Case("paramspace value outside the schema", lambda f: TINY,
         "results/ssvae/runs/n_labels~20/corruption~1.5/alpha~50.0/seed~0/metrics.json",
         ["corruption 1.5 is not a fraction in [0, 1]"]),
    # missing folders
    Case("missing mnist folder", _with("robustness", data={"source": "mnist", "mnist_dir": "/no/such/mnist"}),
         "all", ["config key 'robustness.data.mnist_dir'", "/no/such/mnist"]),
    Case("missing cifar folder", _with("curvature", data={"dataset": "cifar100", "path": "/no/such/cifar"}),
         "all", ["config key 'curvature.data.path'", "/no/such/cifar"]),
    Case("missing checkpoint folder", _with("curvature", checkpoints="/no/such/checkpoints"), "all",
         ["config key 'curvature.checkpoints'", "/no/such/checkpoints"]),
    Case("missing checkpoint file", _curv(checkpoints=lambda f: str(curvature_checkpoints(
        f / "one_missing", lambda p: p.unlink()))), "results/curvature/summary.csv",
        ["config key 'curvature.checkpoints'", "index-0_epoch-4.pt does not exist"]),
    # data files: truncated, foreign, hostile
    Case("truncated npy", _curv(classes={**TINY["curvature"]["classes"], "order": lambda f: str(
        truncate(order_file(f / "order_cut.npy", np.arange(10)), 0.8))}), "results/curvature/data.npz",
        ["order_cut.npy"]),
    Case("class order not a permutation", _curv(classes={**TINY["curvature"]["classes"], "order": lambda f: str(
        order_file(f / "order_dup.npy", [0, 1, 2, 3, 4, 5, 6, 7, 8, 8]))}), "results/curvature/data.npz",
        ["order_dup.npy", "permutation"]),
    Case("truncated cifar pickle", _curv(data={"dataset": "cifar100", "path": lambda f: str(
        _cifar(f / "cifar_cut"))}), "results/curvature/data.npz", ["cifar_cut/train"]),
    Case("truncated idx", lambda f: {**TINY, "ssvae": {**TINY["ssvae"], "data": {
        "dataset": "mnist", "path": str(mnist(f / "mnist_cut", True))}}}, POINT.replace("seed~0", "seed~5"),
        ["t10k-labels-idx1-ubyte", "truncated"]),
    Case("truncated checkpoint", _curv(checkpoints=lambda f: str(curvature_checkpoints(f / "cut", truncate))),
         "results/curvature/checkpoints.json", ["cut/index-0_epoch-4.pt", "truncated"]),
    Case("checkpoint holding a pickled object", _curv(checkpoints=lambda f: str(
        curvature_checkpoints(f / "hostile", pickled_object))), "results/curvature/checkpoints.json",
        ["hostile/index-0_epoch-4.pt", "pickled posix.system", "not loaded"]),
    Case("checkpoint of the wrong shapes", _curv(checkpoints=lambda f: str(
        curvature_checkpoints(f / "shapes", wrong_shapes))), "results/curvature/checkpoints.json",
        ["shapes/index-0_epoch-4.pt", "conv1.weight", "(3, 3, 3, 3)"]),
    Case("sudoku csv with a bad row", lambda f: {**TINY, "reasoning": {**TINY["reasoning"], "datasets": {
        **TINY["reasoning"]["datasets"], "sudoku-csv": {"source": "csv", "csv_dir": str(sudoku_csv(f / "sudoku")),
                                                        "size": 9}}}},
        "results/reasoning/data/sudoku-csv/train/dataset.json", ["sudoku/train.csv, line 4", "82 characters"]),
    Case("truncated npz", lambda f: TINY, "results/robustness/checkpoints/trm_std__seed0.pt",
         ["results/robustness/data/digits.npz"],
         setup=lambda work, files: truncate(work / "results/robustness/data/digits.npz", 0.6)),
]


def _cifar(folder: Path) -> Path:
    write_cifar(folder)
    truncate(folder / "train", 0.5)
    return folder


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_clear_error_and_touches_nothing(work, files, case):
    config = case.config(files)
    case.setup(work, files)
    before = checksums(work)
    proc = smk(work, config, case.target, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    # the error lines: a script's (in the failed job's log, which Snakemake shows) or the config's
    errors = [line.strip() for line in out.splitlines() if line.strip().startswith(("error: ", "config key '"))]
    assert len(errors) == 1, f"{len(errors)} error lines:\n{out[-4000:]}"
    assert all(s in errors[0] for s in case.says), errors[0]
    assert "Traceback" not in out, out[-4000:]
    assert checksums(work) == before
    partial = [p for p in (work / "results").rglob("*") if ".tmp" in p.name]
    assert not partial, partial
    assert not list(files.rglob("*.ran")), "loading a checkpoint ran its pickled code"
    if case.name == "truncated npz":     # the case's own damage repaired for the cases after it
        (work / "results/robustness/data/digits.npz").unlink()
        smk(work, TINY, "results/robustness/data/digits.npz")
