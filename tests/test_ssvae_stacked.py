"""A grid point's seeds trained stacked (tinyscale.ssvae.stacked) against their lone runs
(tinyscale.ssvae.run.train_point): the same weights up to float rounding, the same metrics, and a
stopped and resumed stack ends where an uninterrupted one does."""
from __future__ import annotations

import copy

import pytest
import torch

from tinyscale.ssvae import run, stacked
from tinyscale.ssvae.data import load
from tinyscale.ssvae.run import labelled_for
from tinyscale.ssvae.training import PointTraining
from tinyscale.train import DeviceLoop

SEEDS = [0, 1]
POINT = (200, 0.1, 50.0)          # n_labels, corruption, alpha
# vmap batches the seeds' matmuls (other kernels, other summation orders): the stacked weights
# differ from the lone runs' by float rounding. Measured after these 2 epochs: at most 2e-6 of a
# tensor's largest magnitude; the bound leaves room for other CPUs' kernels.
WEIGHT_RTOL = 2e-5
BLOCK = {
    "data": {"dataset": "digits", "test_fraction": 0.2, "split_seed": 0, "path": None},
    "model": {"style_dim": 4, "hidden": 32, "k": 2, "temperature": 0.66},
    "training": {"epochs": 2, "batch_size": 64, "lr": 1e-3, "eval_frequency": 1, "label_scheme": "balanced",
                 "checkpoint_every_s": 300},
    "metrics": {"test_images": 200},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one thread is faster than two, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return load(BLOCK["data"])


def _capturing(monkeypatch, module, into: list) -> None:
    """Keep the final weights each call of ``module``'s point_record sees (its net's state dict)."""
    original = run.point_record

    def record(net, *args, **kwargs):
        into.append({k: v.detach().clone() for k, v in net.state_dict().items()})
        return original(net, *args, **kwargs)
    monkeypatch.setattr(module, "point_record", record)


def _train(data, block, lone: bool, **kwargs) -> tuple[list[dict], list[dict]]:
    """(records, final weights) of the seeds, lone (one train_point each) or stacked."""
    weights = []
    with pytest.MonkeyPatch.context() as mp:
        if lone:
            _capturing(mp, run, weights)
            records = [run.train_point(data, block, (*POINT, s), DeviceLoop(torch.device("cpu"))) for s in SEEDS]
        else:
            _capturing(mp, stacked, weights)
            records = stacked.train_stacked(data, block, *POINT, SEEDS, "cpu", **kwargs)
    return records, weights


@pytest.fixture(scope="module")
def lone(data):
    return _train(data, BLOCK, lone=True)


@pytest.fixture(scope="module")
def stack(data):
    return _train(data, BLOCK, lone=False)


def _worst(a: dict, b: dict) -> float:
    """The largest difference of two state dicts, relative to each tensor's largest magnitude."""
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max() / a[k].abs().max()) for k in a)


def _same_records(ours: list[dict], theirs: list[dict]) -> None:
    for r, t in zip(ours, theirs, strict=True):
        for key in ("dataset", "n_labels", "corruption_rate", "alpha", "seed", "labelled", "label_scheme",
                    "config", "world_size"):
            assert r[key] == t[key], key
        assert r["final_test_accuracy"] == t["final_test_accuracy"]
        assert r["final_test_elbo"] == pytest.approx(t["final_test_elbo"], rel=1e-5)
        assert r["curves"]["epoch"] == t["curves"]["epoch"] == [1, 2]
        assert r["curves"]["test_accuracy"] == t["curves"]["test_accuracy"]
        for key in ("train_loss", "train_elbo", "test_elbo"):
            assert r["curves"][key] == pytest.approx(t["curves"][key], rel=1e-5), key
        assert r["disentanglement"].keys() == t["disentanglement"].keys()


def test_stacked_seeds_equal_their_lone_runs(lone, stack):
    (lone_records, lone_weights), (records, weights) = lone, stack
    assert len(weights) == len(lone_weights) == len(SEEDS)
    for w, lw in zip(weights, lone_weights):
        assert 0 < _worst(lw, w) <= WEIGHT_RTOL      # not bitwise (vmap), but float rounding only
    # the two seeds did train apart (their own inits, batches and noise)
    assert _worst(weights[0], weights[1]) > 0.1
    _same_records(records, lone_records)
    assert [r["seed"] for r in records] == SEEDS
    assert all(r["stacked_seeds"] == SEEDS and r["resumed_from_step"] == 0 and r["seconds"] > 0
               and r["images_per_s"] > 0 for r in records)


def test_stopped_stack_resumes_to_the_same_weights(data, stack, tmp_path):
    """Stopped mid-epoch (after an evaluation's saved state), then resumed from the saved state: the
    same weights, bitwise, and the same records (the first epoch's evaluation kept)."""
    state = tmp_path / "resume"
    with pytest.raises(stacked.Stopped) as stopped:
        stacked.train_stacked(data, BLOCK, *POINT, SEEDS, "cpu", str(state), stop=lambda step: step == 30)
    assert stopped.value.step == 30 and len(list(state.glob("*.rank0.pt"))) == 1
    records, weights = _train(data, BLOCK, lone=False, state_dir=str(state))
    assert all(r["resumed_from_step"] == 30 for r in records)
    for w, uninterrupted in zip(weights, stack[1]):
        assert all(torch.equal(w[k], uninterrupted[k]) for k in w)
    for r, u in zip(records, stack[0]):
        assert r["curves"] == u["curves"] and r["final_test_accuracy"] == u["final_test_accuracy"]
    assert not list(state.glob("*.pt"))                    # cleared once done
    # another point's (or other seeds') state is not this one's
    with pytest.raises(stacked.Stopped):
        stacked.train_stacked(data, BLOCK, *POINT, SEEDS, "cpu", str(state), stop=lambda step: step == 2)
    other = stacked.train_stacked(data, BLOCK, *POINT, [1, 0], "cpu", str(state), stop=lambda step: False)
    assert [r["resumed_from_step"] for r in other] == [0, 0]


def test_seed_per_batch_mixes_kinds_in_a_step(data):
    """The seed's scheme decides supervision per seed and batch: steps whose seeds differ in kind
    are stepped in two vmaps, and the seeds still equal their lone runs."""
    block = copy.deepcopy(BLOCK)
    block["training"].update(label_scheme="seed_per_batch", epochs=1)
    tasks = [PointTraining(data, labelled_for(data, POINT[0], POINT[1], s), block["training"], block["model"],
                           POINT[2], POINT[1], s) for s in SEEDS]
    kinds = [[len(labels) > 0 for _, (_, labels) in zip(range(t.steps_per_epoch), t.batches(0))] for t in tasks]
    assert any(a != b for a, b in zip(*kinds))
    (lone_records, lone_weights), (records, weights) = _train(data, block, True), _train(data, block, False)
    for w, lw in zip(weights, lone_weights):
        assert _worst(lw, w) <= WEIGHT_RTOL
    for r, t in zip(records, lone_records):
        assert r["final_test_accuracy"] == t["final_test_accuracy"]
        assert r["curves"]["train_loss"] == pytest.approx(t["curves"]["train_loss"], rel=1e-5)


def test_one_seed_each_once(data):
    with pytest.raises(Exception, match="each once"):
        stacked.train_stacked(data, BLOCK, *POINT, [0, 0], "cpu")
