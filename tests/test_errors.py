"""Errors a user can act on, and logs a user can read (issue 10).

The scripts run as the rules run them (subprocesses, one process or torchrun
with two ranks) on tiny inputs: an untrained 8-wide TRM-MLP, 8 samples.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tinyscale.config import ConfigError
from tinyscale.robustness.settings import check_samples
from tinyscale.robustness.data import load, save
from tinyscale.dist import rank_and_size
from tinyscale.idx import DataError
from tinyscale.io import load_npz

from helpers import TORCHRUN, run_script, tiny_inputs

ATTACK = json.dumps({"steps": 3, "step_size": 0.25, "restarts": 1})
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) ")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_inputs(tmp_path_factory.mktemp("errors"))


def truncated(src, dst):
    dst.write_bytes(src.read_bytes()[:1000])
    return dst


def verify_args(t, attack, out, method="crown"):
    return ["--checkpoint", t["checkpoint"], "--samples", t["samples"], "--attack", attack,
            "--model-name", "tiny", "--train-seed", "0", "--method", method, "--eps", "0.05",
            "--batch-size", "4", "--threads", "1", "--out", out]


def attack_args(t, out, samples=None, attack=ATTACK):
    return ["--checkpoint", t["checkpoint"], "--samples", samples or t["samples"], "--eps", "0.05",
            "--attack", attack, "--batch-size", "4", "--threads", "1", "--out", out]


def assert_one_error_line(proc, name, *words):
    """Exit status 2, and the error once: one stderr line names ``name``, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if str(name) in line]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], lines[0]


# ---------------------------------------------------------------- errors

def test_truncated_attack_npz_is_one_line_and_writes_nothing(tiny, tmp_path):
    bad = truncated(tiny["attack"], tmp_path / "eps0.05.npz")
    out = tmp_path / "cell.csv"
    proc = run_script("robustness/verify_cell.py", *verify_args(tiny, bad, out))
    assert_one_error_line(proc, bad, "not a readable .npz file", "delete it and rerun")
    assert "BadZipFile" not in proc.stderr
    assert not out.exists()


def test_junk_samples_npz_is_one_line_and_writes_nothing(tiny, tmp_path):
    junk = tmp_path / "samples.npz"
    junk.write_text("not an npz\n")
    out = tmp_path / "atk.npz"
    proc = run_script("robustness/attack.py", *attack_args(tiny, out, samples=junk))
    assert_one_error_line(proc, junk, "not a readable .npz file")
    assert "pickled" not in proc.stderr
    assert not out.exists()


def test_too_many_samples_name_the_config_key_before_anything_is_written(tiny, tmp_path):
    out = tmp_path / "samples.npz"
    proc = run_script("robustness/select_samples.py", "--data", tiny["data"], "--samples", "5000", "--out", out)
    assert_one_error_line(proc, "robustness.samples", "5000", "only 360", str(tiny["data"]))
    assert not out.exists()


def test_check_samples_reads_the_test_split_only_when_it_exists(tiny, tmp_path):
    check_samples(tmp_path / "not_yet.npz", 5000)        # no dataset yet: nothing to say
    check_samples(tiny["data"], 360)                       # exactly the test split: fine
    with pytest.raises(ConfigError, match=r"'robustness\.samples'.*361.*only 360"):
        check_samples(tiny["data"], 361)
    check_samples(truncated(tiny["data"], tmp_path / "broken.npz"), 5000)  # its reader reports it


def test_load_npz_names_the_file_and_what_is_wrong(tiny, tmp_path):
    assert load_npz(tiny["attack"], ["falsified"])["falsified"].dtype == bool
    with pytest.raises(DataError, match=r"samples\.npz: lacks the array\(s\) nope \(it has x, y, index\)"):
        load_npz(tiny["samples"], ["x", "nope"])
    with pytest.raises(DataError, match="file not found"):
        load_npz(tmp_path / "absent.npz", ["x"])
    npy = tmp_path / "one.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(DataError, match="one.npz: not a readable .npz file"):
        load_npz(npy, ["x"])
    pickled = tmp_path / "objects.npz"
    with open(pickled, "wb") as fh:
        np.savez(fh, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="objects.npz: not a readable .npz file"):
        load_npz(pickled, ["x"])
    with pytest.raises(DataError, match=r"broken\.npz: not a readable .npz file"):
        load(truncated(tiny["data"], tmp_path / "broken.npz"))
    ds = load(tiny["data"])
    save(tmp_path / "again.npz", ds)
    assert load(tmp_path / "again.npz").source == "digits"


# ---------------------------------------------------------------- logs

def test_verify_log_has_no_jit_script_deprecation(tiny, tmp_path):
    out = tmp_path / "cell.csv"
    proc = run_script("robustness/verify_cell.py", *verify_args(tiny, tiny["attack"], out))
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert "torch.jit.script" not in proc.stderr and "DeprecationWarning" not in proc.stderr, proc.stderr
    logged = [line for line in proc.stderr.splitlines() if LOG_LINE.search(line)]
    assert logged and all(LOG_LINE.match(line) for line in logged), proc.stderr  # one process: no rank


def test_only_the_jit_script_warning_is_silenced():
    code = ("import warnings\n"
            "from tinyscale.robustness.lirpa_compat import import_auto_lirpa\n"
            "import_auto_lirpa()\n"
            "warnings.warn('a warning of ours', UserWarning)\n")
    # -W default::DeprecationWarning: show every DeprecationWarning, as a user asking for them would
    proc = subprocess.run([sys.executable, "-W", "default::DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "a warning of ours" in proc.stderr
    assert "torch.jit.script" not in proc.stderr, proc.stderr


def test_rank_and_size_from_the_launchers_environment():
    assert rank_and_size({}) == (0, 1)
    assert rank_and_size({"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}) == (1, 2)
    assert rank_and_size({"SLURM_PROCID": "3", "SLURM_NTASKS": "4"}) == (3, 4)
    assert rank_and_size({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == (0, 1)


def test_two_ranks_prefix_their_lines_and_a_failing_rank_shows_its_traceback_once(tiny, tmp_path):
    """Two ranks attack and log; rank 0 then fails to write (its output's
    folder is a file): an unexpected error. Every log line starts with its
    rank; the traceback appears once, on rank 0's lines; torchrun's summary
    names the rank and points to those lines instead of repeating them."""
    (tmp_path / "folder").write_text("a file where a folder should be\n")
    out = tmp_path / "folder" / "atk.npz"
    proc = run_script("robustness/attack.py", *attack_args(tiny, out), prefix=(*TORCHRUN, "--nproc-per-node", "2"))
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    logged = [line for line in lines if LOG_LINE.search(line)]
    assert all(re.match(r"\[rank[01]\]: " + LOG_LINE.pattern, line) for line in logged), proc.stderr
    assert {line[:8] for line in logged} == {"[rank0]:", "[rank1]:"}, proc.stderr
    errors = [line for line in lines if re.search(r"\w+Error: .*folder", line)]
    assert len(errors) == 1, proc.stderr
    assert re.match(r"\[rank0\]: FileExistsError: ", errors[0]), proc.stderr
    assert all(line.startswith("[rank0]: ") for line in lines[lines.index("[rank0]: Traceback (most recent call last):"):
                                                             lines.index(errors[0])])
    summary = proc.stderr[proc.stderr.index("attack.py FAILED"):]
    assert "FileExistsError" not in summary, summary
    assert "see the traceback above (its lines start with '[rank0]:')" in summary, summary
    assert not out.exists()


def test_an_input_error_under_torchrun_is_one_line_per_rank_and_no_traceback(tiny, tmp_path):
    """Through tinyscale.dist's torchrun (torchrun without its own traceback)."""
    bad = truncated(tiny["attack"], tmp_path / "eps0.05.npz")
    out = tmp_path / "cell.csv"
    launcher = (sys.executable, "-m", "tinyscale.dist", "--standalone", "--nproc-per-node", "2")
    proc = run_script("robustness/verify_cell.py", *verify_args(tiny, bad, out), prefix=launcher)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    named = [line for line in proc.stderr.splitlines() if str(bad) in line]
    assert 1 <= len(named) <= 2, proc.stderr
    assert all(re.match(r"\[rank[01]\]: error: .*not a readable \.npz file", line) for line in named)
    assert len({line[:8] for line in named}) == len(named)   # once per rank
    summary = proc.stderr[proc.stderr.index("verify_cell.py FAILED"):]
    assert "input error (exit status 2): see the line '[rank" in summary, summary
    assert "Traceback" not in summary and str(bad) not in summary
    assert not out.exists()
