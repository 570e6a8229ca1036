"""Checkpoints, training determinism, data preparation and atomic writes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyscale import load_checkpoint
from tinyscale.checkpoint import CheckpointError, save_checkpoint
from tinyscale.data import DataError, load, save, save_samples, load_samples, select_samples
from tinyscale.io import atomic_path, write_json
from tinyscale.models import TRMConfig, TRMMLP
from tinyscale.train import train

from conftest import EVAL_ATTACK, RECIPE


def test_checkpoint_round_trip_in_eval_mode(tmp_path):
    model = TRMMLP(TRMConfig(input_dim=64, hidden=16, mlp_hidden=32))
    torch.nn.init.normal_(model.head.weight)
    save_checkpoint(tmp_path / "m.pt", model, {"note": "x"})
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert not loaded.training
    x = torch.rand(4, 64)
    assert torch.equal(loaded(x), model.eval()(x))
    assert loaded.cfg == model.cfg


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "tinyscale.trm_mlp/1", "payload": object()}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint"])
def test_broken_checkpoint_names_the_file(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_training_is_deterministic_for_a_seed(digits):
    recipe = {**RECIPE, "epochs": 2}
    a = train(digits, {"hidden": 16, "mlp_hidden": 32}, recipe, EVAL_ATTACK, 3, torch.device("cpu"))
    b = train(digits, {"hidden": 16, "mlp_hidden": 32}, recipe, EVAL_ATTACK, 3, torch.device("cpu"))
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert a.history == b.history


def test_adversarial_training_beats_standard_under_attack(models, digits):
    from tinyscale.train import accuracy
    x, y = digits.tensors("test")
    attack = {"eps": 0.1, "steps": 10, "step_size": 0.25}
    assert accuracy(models["adv"], x, y, attack) > accuracy(models["std"], x, y, attack) + 0.1
    assert accuracy(models["std"], x, y) > 0.8


def test_dataset_and_samples_round_trip(tmp_path, digits):
    save(tmp_path / "d.npz", digits)
    back = load(tmp_path / "d.npz")
    assert np.array_equal(back.x_test, digits.x_test) and back.image_shape == (8, 8)
    x, y = back.tensors("test")
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    save_samples(tmp_path / "s.npz", back, 10, 0)
    xs, ys, index = load_samples(tmp_path / "s.npz")
    assert torch.equal(xs, x[index]) and torch.equal(ys, y[index])


def test_sample_rule_is_seeded_and_nested():
    assert np.array_equal(select_samples(100, 20, 5), select_samples(100, 20, 5))
    assert np.array_equal(select_samples(100, 64, 5)[:16], select_samples(100, 16, 5))
    assert not np.array_equal(select_samples(100, 20, 5), select_samples(100, 20, 6))
    with pytest.raises(DataError, match="robustness.samples"):
        select_samples(10, 11, 0)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{") and len(list(tmp_path.iterdir())) == 1
