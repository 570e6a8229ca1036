"""Real multi-process runs: torchrun with gloo on this machine, one and two
"nodes" rendezvousing over c10d on 127.0.0.1."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tinyscale.robustness.checkpoint import save_checkpoint
from tinyscale.robustness.data import save, save_samples
from tinyscale.dist import World

from conftest import RECIPE

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
ROW_KEYS = ["sample", "label", "prediction", "verdict", "lower_bound", "attack_margin", "bound_source"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def standalone(n: int) -> list[str]:
    return [*TORCHRUN, "--standalone", "--nproc-per-node", str(n)]


def run(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def two_nodes(script_args: list[str], timeout: int = 600) -> None:
    """Two torchrun agents (node ranks 0 and 1) rendezvousing over c10d on localhost."""
    port = free_port()
    agent = [*TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
             "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"test{port}"]
    procs = [subprocess.Popen([*agent, "--node-rank", str(r), *script_args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in (0, 1)]
    outs = [p.communicate(timeout=timeout)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, digits, models):
    d = tmp_path_factory.mktemp("dist")
    save(d / "data.npz", digits)
    save_samples(d / "samples.npz", digits, 24, 0)
    save_checkpoint(d / "adv.pt", models["adv"])
    return d


def attack_args(d: Path, out: str) -> list[str]:
    return [str(SCRIPTS / "robustness" / "attack.py"), "--checkpoint", str(d / "adv.pt"), "--samples", str(d / "samples.npz"),
            "--eps", "0.08", "--attack", json.dumps({"steps": 10, "step_size": 0.25, "restarts": 1}),
            "--batch-size", "5", "--threads", "1", "--out", str(d / out)]


def cell_args(d: Path, method: str, out: str, extra: list[str] = ()) -> list[str]:
    return [str(SCRIPTS / "robustness" / "verify_cell.py"), "--checkpoint", str(d / "adv.pt"), "--samples", str(d / "samples.npz"),
            "--attack", str(d / "atk1.npz"), "--model-name", "adv", "--train-seed", "0", "--method", method, "--eps", "0.08",
            "--batch-size", "4", "--alpha", json.dumps({"iterations": 5}), "--threads", "1",
            "--out", str(d / out), *extra]


@pytest.fixture(scope="module")
def one_process_cells(inputs):
    d = inputs
    run([sys.executable, *attack_args(d, "atk1.npz")])
    run([sys.executable, *cell_args(d, "crown", "crown1.csv")])
    run([sys.executable, *cell_args(d, "alpha-crown", "alpha1.csv", ["--crown-cell", str(d / "crown1.csv")])])
    return d


def same_rows(a: Path, b: Path) -> None:
    ra, rb = pd.read_csv(a), pd.read_csv(b)
    pd.testing.assert_frame_equal(ra[ROW_KEYS], rb[ROW_KEYS])
    assert (rb["world_size"] == 2).all() and (ra["world_size"] == 1).all()


def test_two_processes_write_the_rows_of_one(one_process_cells):
    d = one_process_cells
    run([*standalone(2), *attack_args(d, "atk2.npz")])
    import numpy as np
    a, b = np.load(d / "atk1.npz"), np.load(d / "atk2.npz")
    for key in ("prediction", "attack_margin", "falsified", "x_adv"):
        assert np.array_equal(a[key], b[key]), key
    run([*standalone(2), *cell_args(d, "crown", "crown2.csv")])
    same_rows(d / "crown1.csv", d / "crown2.csv")
    run([*standalone(2), *cell_args(d, "alpha-crown", "alpha2.csv", ["--crown-cell", str(d / "crown1.csv")])])
    same_rows(d / "alpha1.csv", d / "alpha2.csv")
    assert set(pd.read_csv(d / "crown1.csv")["verdict"]) >= {"verified", "falsified"}


def test_two_nodes_over_c10d_write_the_rows_of_one(one_process_cells):
    d = one_process_cells
    two_nodes(cell_args(d, "crown", "crown_2n.csv"))
    same_rows(d / "crown1.csv", d / "crown_2n.csv")


def train_args(d: Path, tag: str, epochs: int = 45) -> list[str]:
    recipe = {**RECIPE, "epochs": epochs}
    return [str(SCRIPTS / "robustness" / "train.py"), "--data", str(d / "data.npz"), "--model-config", "{}",
            "--recipe", json.dumps(recipe), "--eval-attack", json.dumps({"eps": 0.1, "steps": 3, "step_size": 0.3}),
            "--threads", "1", "--checkpoint", str(d / f"{tag}.pt"), "--metrics", str(d / f"{tag}.json"),
            "--history", str(d / f"{tag}.csv")]


def test_ddp_training_one_and_two_processes_reach_the_same_band(inputs):
    # (two nodes over c10d train through the same core loop in tests/test_trm_training.py)
    d = inputs
    run([sys.executable, *train_args(d, "t1")])
    run([*standalone(2), *train_args(d, "t2")])
    acc = {t: json.loads((d / f"{t}.json").read_text()) for t in ("t1", "t2")}
    assert acc["t2"]["world_size"] == 2
    # Bands: this 45-epoch recipe (init default) in one process reaches clean accuracy
    # 0.956-0.972 over training seeds 0-4 (torch 2.13 CPU, 1 thread); another float
    # path (1 vs 2 threads, a proxy for 2 ranks' gradient sums or another CPU) moved the
    # 30-epoch recipe's clean accuracy by <= 0.013 per seed. Margins for other CPUs:
    assert abs(acc["t2"]["clean_acc"] - acc["t1"]["clean_acc"]) < 0.05, acc
    assert acc["t1"]["clean_acc"] > 0.9 and acc["t2"]["clean_acc"] > 0.9, acc


def test_a_crashing_rank_fails_the_job_and_a_rerun_completes(one_process_cells):
    d = one_process_cells
    out = d / "crash.csv"
    proc = subprocess.Popen([*standalone(2), *cell_args(d, "alpha-crown", "crash.csv", ["--batch-size", "1"])],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = None
    for _ in range(600):  # find rank 1 once it is running
        time.sleep(0.1)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"RANK=1" in env and str(out).encode() in cmd:
                victim = int(pid)
        if victim:
            break
    assert victim, "rank 1 never started"
    time.sleep(2)
    os.kill(victim, signal.SIGKILL)
    text = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0
    assert "rank" in text and ("Signal 9" in text or "SIGKILL" in text), text[-3000:]
    assert not out.exists()
    run([*standalone(2), *cell_args(d, "alpha-crown", "crash.csv", ["--crown-cell", str(d / "crown1.csv")])])
    same_rows(d / "alpha1.csv", out)


def test_shard_covers_every_item_once():
    items = list(range(11))
    shards = [World(rank=r, world_size=3).shard(items) for r in range(3)]
    assert sorted(sum(shards, [])) == items
    assert [len(s) for s in shards] == [4, 4, 3]
    assert World().gather("x") == ["x"]


def test_repeats_further_apart_than_ten_percent_are_flagged():
    from tinyscale.scaling import merge_runs, run_row, throughput_table
    rows = [run_row("CROWN", 1, 1, "cpu", 8, 64, [10.0], [300.0], 1),
            run_row("CROWN", 1, 1, "cpu", 8, 64, [10.5], [300.0], 2),
            run_row("CROWN", 1, 2, "cpu", 8, 64, [5.0, 4.0], [310.0, 320.0], 1),
            run_row("CROWN", 1, 2, "cpu", 8, 64, [6.0, 5.9], [310.0, 320.0], 2)]
    table = merge_runs([pd.DataFrame([r]) for r in rows])
    assert list(table["notes"]) == ["run1", "run2", "run1;repeats differ by 20%", "run2;repeats differ by 20%"]
    assert list(table["devices"]) == ["1xcpu", "1xcpu", "2xcpu", "2xcpu"]
    assert table.loc[2, "total_time_s"] == 5.0 and table.loc[2, "gpu_mem_mb"] == 320.0
    t = throughput_table(table)
    assert t.loc[1, "speedup"] == pytest.approx((64 / 5 + 64 / 6) / 2 / (64 / 10 + 64 / 10.5) * 2)
