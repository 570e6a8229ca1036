"""The benchmarks run: each in its --quick mode (seconds), as a user would start it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def bench(name: str, *args: str, timeout: int = 300) -> str:
    """stdout of ``bench/<name> --quick [args]``, which must exit 0."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--quick", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def test_a_cell_with_nothing_left_to_bound_needs_no_bounder():
    """The baseline's loop builds no bounder for a falsified sample (the crash of issue 'benchmarks that run')."""
    from tinyscale.robustness.verify import AttackResult, run_cell

    x, y = torch.rand(3, 64), torch.tensor([0, 1, 2])
    atk = AttackResult(prediction=np.array([0, 1, 5]), attack_margin=np.zeros(3, np.float32),
                       falsified=np.array([True, True, False]), x_adv=x.numpy(), seconds=np.zeros(3))
    rows = run_cell(None, x, y, 0.1, atk, batch_size=1, timeout_s=60)
    assert list(rows["verdict"]) == ["falsified", "falsified", "misclassified"]


def test_verify_throughput_quick(tmp_path):
    out = bench("verify_throughput.py", "--out", str(tmp_path / "v.json"))
    assert "speed-up pipeline / baseline:" in out and '"speedup":' in out
    assert "all verdicts agree: True" in out
    result = json.loads((tmp_path / "v.json").read_text())
    cells = result["cells"]
    # the baseline met falsified samples (no bounder built) and bounded others
    assert any(c["falsified"] for c in cells) and any(c["verified"] + c["unknown"] for c in cells)
    assert result["summary"]["speedup"] > 0


def test_scaling_quick(tmp_path):
    out = bench("scaling.py", "--out", str(tmp_path / "s.json"))
    assert "speed-up 2 / 1 processes:" in out and '"speedup":' in out and '"efficiency":' in out
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["speedup"] > 0 and result["passes_1p"][0] >= 1 and result["passes_2p"][0] >= 1


def test_seed_spread_quick(tmp_path):
    """bench/seed_spread.py --quick: both default recipes, 2 seeds, a table each (issue 10)."""
    import re

    out = bench("seed_spread.py", "--out", str(tmp_path / "ss.json"))
    result = json.loads((tmp_path / "ss.json").read_text())
    assert result["seeds"] == [0, 1] and result["quick"]
    assert list(result["models"]) == ["trm_std", "trm_adv"]
    for name, m in result["models"].items():
        assert f"\n{name}: " in out
        assert [r["seed"] for r in m["runs"]] == [0, 1]
        assert all(0 <= r["clean_acc"] <= 1 and 0 <= r["pgd_acc"] <= 1 for r in m["runs"])
        assert m["clean_acc"]["min"] <= m["clean_acc"]["mean"] <= m["clean_acc"]["max"]
    assert "PGD-10 eps 0.1" in out    # the config's eval_attack names the PGD column
    for stat in ("min", "mean", "max", "std"):   # a summary row per model
        assert len(re.findall(rf"^\s+{stat}\s+[0-9.]+\s+[0-9.]+$", out, re.M)) == 2, out


def test_startup_quick(tmp_path):
    out = bench("startup.py", "--out", str(tmp_path / "st.json"))
    assert "dry run - version:" in out
    result = json.loads((tmp_path / "st.json").read_text())
    assert result["stats"]["snakemake --version"]["median"] > 0


def test_sudoku_build_quick(tmp_path):
    out = bench("sudoku_build.py")
    assert "identical" in out.lower() and "puzzles/s" in out


def test_trm_train_quick(tmp_path):
    out = bench("trm_train.py", "--out", str(tmp_path / "trm.json"))
    assert "fp32 matmul peak" in out and "matmuls" in out
    result = json.loads((tmp_path / "trm.json").read_text())
    assert result["quick"] and result["peak_gflops"] > 0
    assert [r["parameters"] > 0 and r["achieved_gflops"] > 0 for r in result["runs"]] == [True, True]


def test_curvature_quick(tmp_path):
    """bench/curvature.py --quick: the stacked computation and the seed's loop agree, rows per batch size."""
    out = bench("curvature.py", "--out", str(tmp_path / "c.json"))
    assert "speed-up ours / seed (best batch):" in out and "all values agree (rtol 0.0001): True" in out
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["quick"] and result["all_agree"] and [r["batch"] for r in result["ours"]] == [4, 16]
    assert result["seed_images_per_s"] > 0 and all(r["images_per_s"] > 0 for r in result["ours"])


def test_ssvae_quick(tmp_path):
    """bench/ssvae.py --quick: ours against the seed's loop (two cases, the batches alone too), the
    accuracies of both, and a grid point's seeds one process each against stacked."""
    out = bench("ssvae.py", "--out", str(tmp_path / "ssvae.json"))
    assert "speed-up ours / seed's loop:" in out and "stacked / one a process:" in out
    assert "random pixels" in out and "accuracies equal: True" in out
    result = json.loads((tmp_path / "ssvae.json").read_text())
    assert result["quick"] and len(result["throughput"]) == 2
    for row in result["throughput"]:
        assert row["ours_s_per_epoch"] > 0 and row["seed_s_per_epoch"] > 0 and row["data_path"]["speedup"] > 0
    acc = result["accuracy"]
    assert len(acc["seed_loop"]) == len(acc["ours_seed_per_batch"]) == len(acc["ours_balanced"]) == 2
    assert all(0 <= v <= 1 for v in acc["seed_loop"] + acc["ours_seed_per_batch"] + acc["ours_balanced"])
    [stack] = result["grid"]["stacks"]
    assert stack["seeds"] == 2 and stack["accuracy_equal"] and stack["stacked_points_per_hour"] > 0
