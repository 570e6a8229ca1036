"""Scaling runs: passes until a minimum time (every rank as many), and the
table's per-configuration repeat spread."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tinyscale.dist import World
from tinyscale.scaling import COLUMNS, EXTRA_COLUMNS, merge_runs, run_row, throughput_table, timed_passes

ROOT = Path(__file__).resolve().parents[1]
STANDALONE = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]


def run(cmd: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


class Clock:
    """A fake clock that each pass of work moves on by ``step`` seconds."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.now += self.step


@pytest.mark.parametrize("min_seconds, passes", [(0.0, 1), (0.3, 1), (1.0, 4), (1.2, 4), (1.21, 5)])
def test_passes_go_on_until_the_minimum_time(min_seconds, passes):
    clock = Clock(0.3)
    assert timed_passes(clock.work, World(), min_seconds, clock) == (passes, pytest.approx(0.3 * passes))


def test_every_rank_does_as_many_passes_as_rank_0_decides(tmp_path):
    """Rank 1 works 4x slower than rank 0: on its own clock it would stop after
    fewer passes; it follows rank 0's decision instead."""
    script = tmp_path / "passes.py"
    script.write_text(textwrap.dedent(f"""
        import json, time
        from tinyscale import dist
        from tinyscale.scaling import timed_passes
        world = dist.init("cpu")
        passes, seconds = timed_passes(lambda: time.sleep(0.05 * (1 + 3 * world.rank)), world, 0.5)
        with open({str(tmp_path)!r} + f"/rank{{world.rank}}.json", "w") as f:
            json.dump({{"passes": passes, "seconds": seconds}}, f)
        world.close()
    """))
    run([*STANDALONE, "2", str(script)])
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["passes"] == ranks[1]["passes"] > 1
    assert ranks[0]["seconds"] >= 0.5 and ranks[1]["seconds"] >= 0.5


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    """A tiny TRM-MLP fitted in a fraction of a second and 8 digits samples."""
    import torch
    import torch.nn.functional as F

    from tinyscale.robustness.checkpoint import save_checkpoint
    from tinyscale.robustness.data import load_digits_split, save_samples
    from tinyscale.robustness.models import TRMConfig, TRMMLP

    d = tmp_path_factory.mktemp("scaling")
    ds = load_digits_split(0.2, 0)
    torch.manual_seed(0)
    model = TRMMLP(TRMConfig(input_dim=ds.input_dim, hidden=16, mlp_hidden=32, outer_cycles=1, inner_cycles=1))
    x, y = ds.tensors("train")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    save_checkpoint(d / "tiny.pt", model.eval())
    save_samples(d / "samples.npz", ds, 8, 0)
    return d


def test_a_two_process_run_with_a_minimum_time_does_several_passes(tiny_inputs):
    d = tiny_inputs
    out = d / "2p.csv"
    proc = run([*STANDALONE, "2", str(ROOT / "workflow/scripts/robustness/scaling_run.py"),
                "--checkpoint", str(d / "tiny.pt"), "--samples", str(d / "samples.npz"),
                "--method", "crown", "--eps", "0.05", "--attack", json.dumps({"steps": 3, "step_size": 0.25,
                                                                              "restarts": 1}),
                "--batch-size", "2", "--min-seconds", "1", "--repeat", "2", "--threads", "1", "--out", str(out)])
    row = pd.read_csv(out).iloc[0]
    assert list(row.index[:len(COLUMNS)]) == COLUMNS
    assert row["passes"] > 1 and row["samples"] == 8 and row["world_size"] == 2
    assert row["notes"].startswith("run2") and 0 < row["cpu_share"] < 1.5  # below 0.9 on a busy machine
    assert row["total_time_s"] >= 1.0
    assert row["samples_per_s"] == pytest.approx(8 * row["passes"] / row["total_time_s"], rel=1e-3)
    assert row["avg_time_per_sample_s"] == pytest.approx(row["total_time_s"] / (8 * row["passes"]), rel=1e-3)
    # rank 0 logs every rank's passes; both did as many (the script fails otherwise)
    assert proc.stderr.count("passes of") >= 2


def test_the_table_reports_each_configurations_repeat_spread():
    rows = [run_row("CROWN", 1, 1, "cpu", 64, 64, [10.0], [300.0], 1, passes=2),        # 12.8 samples/s
            run_row("CROWN", 1, 1, "cpu", 64, 64, [16.0], [300.0], 2, passes=3),        # 12.0
            run_row("CROWN", 1, 2, "cpu", 64, 64, [5.0, 4.0], [310.0, 320.0], 1, passes=2),   # 25.6
            run_row("CROWN", 1, 2, "cpu", 64, 64, [9.6, 9.0], [310.0, 320.0], 2, passes=3)]   # 20.0
    table = merge_runs([pd.DataFrame([r]) for r in rows])
    assert list(table.columns[:len(COLUMNS)]) == COLUMNS and set(EXTRA_COLUMNS) <= set(table.columns)
    assert list(table["samples_per_s"]) == [12.8, 12.0, 25.6, 20.0]
    assert list(table["repeat_min_samples_per_s"]) == [12.0, 12.0, 20.0, 20.0]
    assert list(table["repeat_max_samples_per_s"]) == [12.8, 12.8, 25.6, 25.6]
    assert list(table["repeat_spread"]) == pytest.approx([0.0667, 0.0667, 0.28, 0.28], abs=1e-4)
    assert list(table["notes"]) == ["run1", "run2", "run1;repeats differ by 28%", "run2;repeats differ by 28%"]
    t = throughput_table(table).set_index("devices")
    assert t.loc["1xcpu", "samples_per_s"] == pytest.approx(12.4)
    assert t.loc["2xcpu", "samples_per_s"] == pytest.approx(22.8)
    assert t.loc["2xcpu", "speedup"] == pytest.approx(22.8 / 12.4)
    assert (t.loc["2xcpu", "repeat_min_samples_per_s"], t.loc["2xcpu", "repeat_max_samples_per_s"]) == (20.0, 25.6)
    assert t.loc["2xcpu", "repeat_spread"] == pytest.approx(0.28)
    assert t.loc["1xcpu", "repeat_spread"] == pytest.approx(12.8 / 12 - 1)


def test_a_run_that_waited_for_other_processes_is_noted():
    quiet = run_row("CROWN", 1, 2, "cpu", 8, 64, [10.0, 9.9], [300.0, 300.0], 1, 4, rank_cpu_seconds=[9.7, 8.0])
    busy = run_row("CROWN", 1, 2, "cpu", 8, 64, [10.0, 9.9], [300.0, 300.0], 2, 4, rank_cpu_seconds=[7.0, 8.0])
    assert (quiet["cpu_share"], quiet["notes"]) == (0.97, "run1")
    assert (busy["cpu_share"], busy["notes"]) == (0.808, "run2;cpu shared (81% of a core)")
    table = merge_runs([pd.DataFrame([quiet]), pd.DataFrame([busy])])
    assert list(table["notes"]) == ["run1", "run2;cpu shared (81% of a core)"]


def test_runs_from_before_passes_count_as_one_pass():
    old = [{"timestamp": "2026-11-24T10:00:00", "config": "CROWN", "devices": "1xcpu", "batch": 8, "samples": 64,
            "avg_time_per_sample_s": s / 64, "total_time_s": s, "gpu_mem_mb": 300.0, "notes": f"run{r}",
            "nodes": 1, "procs_per_node": 1, "world_size": 1} for r, s in ((1, 2.0), (2, 3.2))]
    t = throughput_table(pd.DataFrame(old))
    assert t["samples_per_s"].iat[0] == pytest.approx((32 + 20) / 2)
    assert t["repeat_spread"].iat[0] == pytest.approx(0.6)
    table = merge_runs([pd.DataFrame(old)])
    assert list(table["passes"]) == [1, 1]
    assert list(table["notes"]) == ["run1;repeats differ by 60%", "run2;repeats differ by 60%"]
