"""The SSVAE study's data: the labelled set, the batch schedules of both label schemes, and
MNIST read through the IDX loader."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from helpers import write_idx
from tinyscale.errors import ConfigError, DataError
from tinyscale.ssvae.data import Pixels, labelled_set, load
from tinyscale.ssvae.training import PointTraining, schedule

C = 10
LABELS = np.random.default_rng(0).permutation(np.arange(500) % C)       # 50 images a class


# --- the labelled set ------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 7, 10, 23, 100, 499, 500])
def test_labelled_set_is_exactly_n_and_class_balanced(n):
    s = labelled_set(LABELS, n, 0.0, seed=42)
    assert len(s.index) == len(s.labels) == len(s.corrupted) == n
    assert len(np.unique(s.index)) == n and np.all(np.diff(s.index) > 0)       # sorted, distinct
    per_class = np.bincount(LABELS[s.index], minlength=C)
    assert per_class.max() - per_class.min() <= 1
    assert per_class.min() == n // C
    np.testing.assert_array_equal(s.labels, LABELS[s.index])                   # no corruption
    assert not s.corrupted.any()


def test_labelled_set_is_stable_per_seed_and_differs_between_seeds():
    a, b = labelled_set(LABELS, 37, 0.2, seed=42), labelled_set(LABELS, 37, 0.2, seed=42)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.corrupted, b.corrupted)
    assert a.sha256() == b.sha256() and len(a.sha256()) == 64
    other = labelled_set(LABELS, 37, 0.2, seed=43)
    assert not np.array_equal(a.index, other.index)
    assert a.sha256() != other.sha256()
    # the corruption rate does not move the labelled images: a corruption sweep labels the same ones
    assert labelled_set(LABELS, 37, 0.0, seed=42).sha256() == a.sha256()


def test_labelled_sets_of_a_seed_are_nested():
    sizes = [3, 10, 15, 20, 23, 50, 120, 300]
    sets = {n: set(labelled_set(LABELS, n, 0.0, seed=7).index) for n in sizes}
    assert sets[20] < sets[50]
    for small, large in itertools.combinations(sizes, 2):
        assert sets[small] < sets[large], (small, large)


@pytest.mark.parametrize("n, rate", [(23, 0.1), (25, 0.5), (100, 0.01), (100, 0.2), (37, 0.5), (10, 1.0),
                                     (60, 0.0)])
def test_corruption_flips_exactly_round_rate_n_labels(n, rate):
    s = labelled_set(LABELS, n, rate, seed=3)
    true = LABELS[s.index]
    assert s.corrupted.sum() == round(rate * n)
    assert np.all(s.labels[s.corrupted] != true[s.corrupted])                  # always a wrong class
    np.testing.assert_array_equal(s.labels[~s.corrupted], true[~s.corrupted])
    assert s.labels.min() >= 0 and s.labels.max() < C


def test_corruption_extremes():
    assert not labelled_set(LABELS, 100, 0.0, seed=1).corrupted.any()
    every = labelled_set(LABELS, 100, 1.0, seed=1)
    assert every.corrupted.all() and np.all(every.labels != LABELS[every.index])
    # uniformly chosen wrong classes: every wrong class appears among 100 flips
    assert len(np.unique((every.labels - LABELS[every.index]) % C)) == C - 1


def test_labelled_set_errors_name_the_key():
    key = "ssvae.grid.slices.alpha_sweep"
    for n in (501, 0, -3):
        with pytest.raises(ConfigError, match=key) as err:
            labelled_set(LABELS, n, 0.0, seed=0, key=key)
        assert str(n) in str(err.value)
    # a class with one image cannot give 2 of each for 20 labels
    scarce = np.concatenate([np.repeat(np.arange(C), 5)[np.repeat(np.arange(C), 5) != 3], [3]])
    with pytest.raises(ConfigError, match=key) as err:
        labelled_set(scarce, 20, 0.0, seed=0, key=key)
    assert "class 3" in str(err.value)
    with pytest.raises(ConfigError, match=key):
        labelled_set(LABELS, 20, 1.5, seed=0, key=key)


# --- batches ---------------------------------------------------------------------------------

N_TRAIN = 230


def _pixels() -> Pixels:
    gen = torch.Generator().manual_seed(0)
    y = torch.as_tensor(np.random.default_rng(1).permutation(np.arange(N_TRAIN) % C))
    return Pixels(torch.rand(N_TRAIN, 4, generator=gen), y, torch.rand(20, 4, generator=gen),
                  torch.arange(20) % C, (2, 2), "fake")


def _task(labelled, scheme="balanced", batch=8, rank=0, world_size=1, corruption=0.3, seed=42):
    training = {"batch_size": batch, "label_scheme": scheme}
    return PointTraining(_pixels(), labelled, training, {"k": 2, "style_dim": 2}, 50.0, corruption, seed,
                         rank, world_size)


@pytest.fixture(scope="module")
def labelled():
    return labelled_set(_pixels().train_y.numpy(), 23, 0.3, seed=42)


def test_schedule_spreads_the_supervised_batches_evenly():
    for n_unsup, n_sup in itertools.product([0, 1, 2, 5, 26, 234], [0, 1, 2, 3, 7, 12]):
        plan = schedule(n_unsup, n_sup)
        total = n_unsup + n_sup
        assert len(plan) == total and sum(plan) == n_sup, (n_unsup, n_sup)
        # the i-th supervised batch starts in the i-th of n_sup equal slices of the epoch
        for i, pos in enumerate(np.flatnonzero(plan)):
            assert i * total // n_sup <= pos < (i + 1) * total / n_sup, (n_unsup, n_sup, i, pos)


def _epoch(task, epoch):
    return list(itertools.islice(task.batches(epoch * task.steps_per_epoch), task.steps_per_epoch))


def test_balanced_epoch_sees_each_image_once(labelled):
    task = _task(labelled)
    n_unlabelled = N_TRAIN - 23
    assert task.steps_per_epoch == -(-n_unlabelled // 8) + -(-23 // 8)          # 26 + 3
    labels_of = dict(zip(labelled.index.tolist(), labelled.labels.tolist()))
    for epoch in (0, 1, 5):
        batches = _epoch(task, epoch)
        sup = [(i, y) for i, y in batches if y.numel()]
        unsup = [i for i, y in batches if not y.numel()]
        assert len(sup) == 3 and len(unsup) == 26
        sup_idx = torch.cat([i for i, _ in sup]).tolist()
        assert sorted(sup_idx) == labelled.index.tolist()                       # each labelled image once
        assert torch.cat([y for _, y in sup]).tolist() == [labels_of[i] for i in sup_idx]   # corrupted labels
        unsup_idx = torch.cat(unsup).tolist()
        assert sorted(unsup_idx) == sorted(set(range(N_TRAIN)) - set(labelled.index.tolist()))
        assert all(len(i) <= 8 for i, _ in batches)
        # spread through the epoch, not bunched at its start
        where = [b for b, (_, y) in enumerate(batches) if y.numel()]
        assert where[0] < 29 / 3 and where[-1] >= 2 * 29 / 3, where
    assert _epoch(task, 0)[0][0].tolist() != _epoch(task, 1)[0][0].tolist()   # reshuffled each epoch


@pytest.mark.parametrize("scheme", ["balanced", "seed_per_batch"])
def test_resumed_batches_equal_the_uninterrupted_stream(labelled, scheme):
    steps = _task(labelled, scheme).steps_per_epoch
    stream = list(itertools.islice(_task(labelled, scheme).batches(0), 3 * steps))
    for start in range(0, 3 * steps - 4):
        resumed = itertools.islice(_task(labelled, scheme).batches(start), 4)     # a fresh process
        for offset, (idx, y) in enumerate(resumed):
            want_idx, want_y = stream[start + offset]
            assert torch.equal(idx, want_idx) and torch.equal(y, want_y), (start, offset)


@pytest.mark.parametrize("scheme", ["balanced", "seed_per_batch"])
def test_two_ranks_partition_each_global_batch(labelled, scheme):
    steps = 2 * _task(labelled, scheme).steps_per_epoch
    whole = itertools.islice(_task(labelled, scheme).batches(0), steps)
    ranks = [itertools.islice(_task(labelled, scheme, rank=r, world_size=2).batches(0), steps) for r in (0, 1)]
    for (idx, y), (idx0, y0), (idx1, y1) in zip(whole, *ranks):
        assert len(set(idx0.tolist()) & set(idx1.tolist())) == 0
        assert sorted(idx0.tolist() + idx1.tolist()) == sorted(idx.tolist())
        assert abs(len(idx0) - len(idx1)) <= 1
        assert (y0.numel() > 0) == (y1.numel() > 0) == (y.numel() > 0)        # the ranks agree on supervision
        if y.numel():
            label_of = dict(zip(idx.tolist(), y.tolist()))
            for i, yy in ((idx0, y0), (idx1, y1)):
                assert yy.tolist() == [label_of[j] for j in i.tolist()]


def test_seed_per_batch_supervises_a_fraction_n_over_N_of_batches():
    n = 46                                                  # p = 46 / 230 = 0.2
    task = _task(labelled_set(_pixels().train_y.numpy(), n, 0.0, seed=42), "seed_per_batch", corruption=0.0)
    epochs = 300
    assert task.steps_per_epoch == -(-N_TRAIN // 8)         # batches of the whole training set
    supervised = np.array([y.numel() > 0 for _, y in
                           itertools.islice(task.batches(0), epochs * task.steps_per_epoch)])
    # 8,700 batches: the standard error of the fraction is 0.004
    assert abs(supervised.mean() - n / N_TRAIN) < 0.02, supervised.mean()
    per_epoch = supervised.reshape(epochs, -1).sum(1)
    assert per_epoch.min() < per_epoch.max()                # the number supervised varies by epoch


def test_seed_per_batch_labels_different_images_each_epoch(labelled):
    """The seed's flaw: which images are labelled changes from epoch to epoch (and with it how
    many), so "n_labels" is not n labelled images."""
    task = _task(labelled, "seed_per_batch", corruption=0.0)
    train_y = task.data.train_y
    seen = []
    for epoch in range(6):
        images = set()
        for idx, y in _epoch(task, epoch):
            if y.numel():
                assert torch.equal(y, train_y[idx])         # corruption 0: the true labels
                images |= set(idx.tolist())
        seen.append(frozenset(images))
    nonempty = [s for s in seen if s]
    assert len(nonempty) >= 2 and len(set(nonempty)) == len(nonempty)
    assert set().union(*nonempty) - set(labelled.index.tolist())     # beyond any fixed labelled set


# --- MNIST through the IDX loader ------------------------------------------------------------

def _mnist(folder, n_train=200, n_test=50):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": (np.arange(n_train) % 10).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8)}
    arrays["x_train"][0, 0, :2] = (0, 255)                  # both ends of the pixel range
    write_idx(folder / "train-images-idx3-ubyte", arrays["x_train"])
    write_idx(folder / "train-labels-idx1-ubyte", arrays["y_train"])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", arrays["x_test"], gz=True)
    write_idx(folder / "t10k-labels-idx1-ubyte", arrays["y_test"])
    return arrays


def test_load_mnist_from_idx_files(tmp_path):
    want = _mnist(tmp_path)
    data = load({"dataset": "mnist", "path": str(tmp_path), "test_fraction": 0.2, "split_seed": 0})
    assert data.name == "mnist" and data.image_shape == (28, 28) and data.input_dim == 784
    assert data.train_x.shape == (200, 784) and data.test_x.shape == (50, 784)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert float(data.train_x.min()) == 0.0 and float(data.train_x.max()) == 1.0
    assert 0.0 <= float(data.test_x.min()) and float(data.test_x.max()) <= 1.0
    np.testing.assert_allclose(data.train_x.numpy(), want["x_train"].reshape(200, -1) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(data.test_x.numpy(), want["x_test"].reshape(50, -1) / 255.0, rtol=1e-6)
    assert data.train_y.tolist() == want["y_train"].tolist() and data.test_y.tolist() == want["y_test"].tolist()
    # a labelled set of the loaded labels
    assert len(labelled_set(data.train_y.numpy(), 30, 0.1, seed=0).index) == 30


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"])
def test_truncated_idx_file_raises_data_error_naming_it(tmp_path, name):
    _mnist(tmp_path)
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=name):
        load({"dataset": "mnist", "path": str(tmp_path)})


def test_mnist_without_a_path_names_the_key():
    with pytest.raises(ConfigError, match=r"ssvae\.data\.path"):
        load({"dataset": "mnist", "path": None})
