"""The curvature study's data: CIFAR-100 files (real format, broken and hostile ones),
the digits, validation splits, label noise, class orders and batch augmentation."""
from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyscale.curvature.data import (
    _rotate, augment, class_order, load, load_cifar100, load_digits_images, mislabel,
    read_class_order, split_validation)
from tinyscale.errors import ConfigError, DataError


# --- fake cifar-100-python folders ----------------------------------------------------

class _Py2Pickler(pickle._Pickler):
    """Writes bytes and str (numpy's dtype codes too) with Python 2's str opcodes, as
    the original files have them (Python 3 writes bytes as _codecs.encode calls at
    protocol 2, and str as unicode)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        if isinstance(obj, str):
            obj = obj.encode("latin1")
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = dispatch[str] = _save_py2_str


def py2_dumps(obj) -> bytes:
    raw = bytearray()

    class Sink:
        write = raw.extend

    _Py2Pickler(Sink(), protocol=2).dump(obj)
    # numpy < 2 (and so every original file) names the module numpy.core; GLOBAL
    # arguments are newline-terminated text, so the rename is a plain replacement
    return bytes(raw).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def pixel(i, c, r, q):
    """The value planted at image i, channel c, row r, column q."""
    return (11 * i + 7 * c + 5 * r + 3 * q) % 256


def cifar_data(n: int) -> np.ndarray:
    flat = np.arange(3072)
    c, r, q = flat // 1024, flat % 1024 // 32, flat % 32   # the documented row layout
    return np.stack([pixel(i, c, r, q) for i in range(n)]).astype(np.uint8)


def split_dict(n: int, labels=None, str_keys=False) -> dict:
    labels = list(range(n)) if labels is None else labels
    d = {b"data": cifar_data(n), b"fine_labels": labels, b"coarse_labels": [x // 5 for x in labels],
         b"filenames": [b"img_%d.png" % i for i in range(n)], b"batch_label": b"training batch 1 of 1"}
    return {k.decode(): v for k, v in d.items()} if str_keys else d


def meta_dict(str_keys=False) -> dict:
    d = {b"fine_label_names": [b"class%02d" % i for i in range(100)],
         b"coarse_label_names": [b"super%02d" % i for i in range(20)]}
    return {k.decode(): v for k, v in d.items()} if str_keys else d


def write_cifar(folder, str_keys=False, n_train=20, n_test=10):
    folder.mkdir(exist_ok=True)
    dump = (lambda o: pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL)) if str_keys else py2_dumps
    (folder / "train").write_bytes(dump(split_dict(n_train, str_keys=str_keys)))
    (folder / "test").write_bytes(dump(split_dict(n_test, [99 - i for i in range(n_test)],
                                                  str_keys=str_keys)))
    (folder / "meta").write_bytes(dump(meta_dict(str_keys)))
    return folder


@pytest.mark.parametrize("str_keys", [False, True], ids=["python2-bytes-keys", "python3-str-keys"])
def test_cifar100_layout_labels_and_names(tmp_path, str_keys):
    ds = load_cifar100(write_cifar(tmp_path / "c", str_keys))
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.train_x.dtype == np.uint8
    assert ds.test_x.shape == (10, 3, 32, 32)
    i, c, r, q = np.indices(ds.train_x.shape)
    np.testing.assert_array_equal(ds.train_x, pixel(i, c, r, q))
    # red plane first, rows before columns: spot-check one pixel of the flat row
    assert ds.train_x[3, 2, 5, 7] == cifar_data(4)[3, 2 * 1024 + 5 * 32 + 7] == pixel(3, 2, 5, 7)
    assert ds.train_y.dtype == np.int64 and list(ds.train_y) == list(range(20))
    assert list(ds.test_y) == [99 - i for i in range(10)]
    assert ds.class_names[:2] == ["class00", "class01"] and ds.n_classes == 100
    assert ds.max_value == 255.0 and ds.image_shape == (3, 32, 32)
    assert ds.mean == (0.5071, 0.4865, 0.4409) and ds.std == (0.2673, 0.2564, 0.2762)


def test_load_dispatches_and_needs_a_path(tmp_path):
    assert load("cifar100", str(write_cifar(tmp_path / "c"))).n_classes == 100
    with pytest.raises(ConfigError, match=r"^curvature\.data\.path"):
        load("cifar100", None)
    with pytest.raises(ConfigError, match=r"^curvature\.data\.dataset"):
        load("imagenet", "x")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _break(folder, case):
    """Spoils one file of a good folder; returns the spoiled file."""
    train = folder / "train"
    if case == "truncated":
        train.write_bytes(train.read_bytes()[:1000])
    elif case == "list":
        train.write_bytes(pickle.dumps([1, 2, 3]))
    elif case == "random-bytes":
        train.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == "empty":
        train.write_bytes(b"")
    elif case == "missing-key":
        train.write_bytes(py2_dumps({b"data": cifar_data(2)}))
    elif case == "bad-shape":
        train.write_bytes(py2_dumps({**split_dict(2), b"data": np.zeros((2, 1024), np.uint8)}))
    elif case == "length-mismatch":
        train.write_bytes(py2_dumps(split_dict(3, [0, 1])))
    elif case == "label-range":
        train.write_bytes(py2_dumps(split_dict(3, [0, 100, 1])))
    elif case == "missing-meta":
        (folder / "meta").unlink()
        return folder / "meta"
    elif case == "bad-meta":
        (folder / "meta").write_bytes(py2_dumps({b"fine_label_names": [b"a", b"b"]}))
        return folder / "meta"
    return train


@pytest.mark.parametrize("case", ["truncated", "list", "random-bytes", "empty", "missing-key",
                                  "bad-shape", "length-mismatch", "label-range",
                                  "missing-meta", "bad-meta"])
def test_cifar100_bad_files_name_the_file(tmp_path, case):
    bad = _break(write_cifar(tmp_path / "c"), case)
    with pytest.raises(DataError) as err:
        load_cifar100(tmp_path / "c")
    assert str(err.value).startswith(str(bad)), str(err.value)


def test_cifar100_refuses_foreign_globals_without_running_them(tmp_path):
    folder = write_cifar(tmp_path / "c")
    marker = tmp_path / "pwned"
    (folder / "test").write_bytes(pickle.dumps({b"data": _Evil(marker)}, protocol=2))
    with pytest.raises(DataError, match="system") as err:
        load_cifar100(folder)
    assert str(err.value).startswith(str(folder / "test"))
    assert not marker.exists()


# --- digits ---------------------------------------------------------------------------

def test_digits_shapes_range_and_stratification():
    ds = load_digits_images(0.2, seed=0)
    assert ds.train_x.shape[1:] == (1, 8, 8) and ds.train_x.dtype == np.uint8
    assert len(ds.train_x) + len(ds.test_x) == 1797
    assert ds.max_value == 16.0 and ds.train_x.max() == 16 and ds.test_x.max() <= 16
    x = ds.to_float(ds.train_x)
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() == 1
    z = ds.normalise(x)
    assert abs(z.mean().item()) < 1e-4 and abs(z.std().item() - 1) < 1e-2
    assert ds.class_names == [str(d) for d in range(10)] and ds.n_classes == 10
    all_counts = np.bincount(np.concatenate([ds.train_y, ds.test_y]), minlength=10)
    np.testing.assert_array_equal(np.bincount(ds.test_y, minlength=10),
                                  np.round(0.2 * all_counts).astype(int))
    again, other = load_digits_images(0.2, seed=0), load_digits_images(0.2, seed=1)
    np.testing.assert_array_equal(again.test_x, ds.test_x)
    assert not np.array_equal(other.test_x, ds.test_x)
    with pytest.raises(ConfigError, match=r"^curvature\.data\.test_fraction"):
        load("digits", test_fraction=1.5)


# --- splits, noise, class order ---------------------------------------------------------

def test_split_validation_is_stratified_disjoint_complete_and_seeded():
    labels = np.repeat(np.arange(10), 500)
    np.random.default_rng(0).shuffle(labels)
    tr, va = split_validation(labels, 0.1, seed=3)
    assert np.all(np.bincount(labels[va], minlength=10) == 50)
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(va) > 0)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(len(labels)))
    tr2, va2 = split_validation(labels, 0.1, seed=3)
    np.testing.assert_array_equal(va, va2)
    assert not np.array_equal(va, split_validation(labels, 0.1, seed=4)[1])
    with pytest.raises(ConfigError, match=r"^curvature\.data\.val_fraction"):
        split_validation(labels, 1.0)


def test_mislabel_exact_count_never_own_label_seeded_and_uniform():
    labels = np.repeat(np.arange(10), 1000)
    noisy, mis = mislabel(labels, 0.25, 10, seed=7)
    assert mis.sum() == 2500 and noisy.dtype == np.int64
    assert np.all(noisy[mis] != labels[mis]) and np.all(noisy[~mis] == labels[~mis])
    shifts = np.bincount((noisy[mis] - labels[mis]) % 10, minlength=10)
    assert shifts[0] == 0 and shifts[1:].min() > 200 and shifts[1:].max() < 360  # ~278 each
    again = mislabel(labels, 0.25, 10, seed=7)
    np.testing.assert_array_equal(again[0], noisy)
    assert not np.array_equal(mislabel(labels, 0.25, 10, seed=8)[1], mis)
    assert mislabel(labels[:7], 0.5, 10, seed=0)[1].sum() == round(3.5)
    assert mislabel(labels, 0.0, 10, seed=0)[1].sum() == 0
    with pytest.raises(ConfigError, match="mislabel_fraction"):
        mislabel(labels, -0.1, 10, seed=0)


def test_class_order_and_reading_it(tmp_path):
    order = class_order(100, seed=2)
    assert order.dtype == np.int64 and sorted(order) == list(range(100))
    np.testing.assert_array_equal(order, class_order(100, seed=2))
    assert not np.array_equal(order, class_order(100, seed=3))
    good = tmp_path / "index-0.npy"
    np.save(good, order.astype(np.int32))
    np.testing.assert_array_equal(read_class_order(good, 100), order)

    bad = {"missing.npy": None, "text.npy": b"hello", "object.npy": np.array([{}, 1], object),
           "float.npy": np.arange(100.0), "2d.npy": np.arange(100).reshape(10, 10),
           "repeat.npy": np.r_[0, np.arange(99)], "short.npy": np.arange(99)}
    for name, content in bad.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            np.save(path, content, allow_pickle=True)
        with pytest.raises(DataError) as err:
            read_class_order(path, 100)
        assert str(err.value).startswith(str(path)), name


# --- augmentation -----------------------------------------------------------------------

def _batch(n=8, c=3, h=32, w=32):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(0))


def test_augment_all_off_and_zero_sizes_are_identity():
    x = _batch()
    g = torch.Generator().manual_seed(1)
    assert augment(x, g, flip=False, crop_padding=0, rotation_degrees=0) is x
    assert augment(x, g, False, 0, 0.0) is x


def test_augment_shapes_and_determinism():
    x = _batch()
    out = [augment(x, torch.Generator().manual_seed(5), True, 4, 15.0) for _ in range(2)]
    assert out[0].shape == x.shape and out[0].dtype == x.dtype
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)
    other = augment(x, torch.Generator().manual_seed(6), True, 4, 15.0)
    assert not torch.equal(other, out[0])
    # one generator through two batches replays the same two batches
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    for _ in range(2):
        torch.testing.assert_close(augment(x, g1, True, 4, 10.0), augment(x, g2, True, 4, 10.0))
    digits = _batch(5, 1, 8, 8)
    assert augment(digits, g1, True, 2, 30.0).shape == (5, 1, 8, 8)
    with pytest.raises(ConfigError, match=r"^curvature\.augment\.crop_padding"):
        augment(digits, g1, True, 8, 0.0)


def test_augment_flip_only_flips_whole_images_exactly():
    x = _batch(64)
    y = augment(x, torch.Generator().manual_seed(2), flip=True)
    same = [torch.equal(a, b) for a, b in zip(y, x)]
    mirrored = [torch.equal(a, b.flip(-1)) for a, b in zip(y, x)]
    assert all(s != m for s, m in zip(same, mirrored))
    assert 16 < sum(mirrored) < 48


def test_augment_crop_is_a_window_of_the_reflect_padded_image():
    x = _batch(6, 2, 10, 12)
    y = augment(x, torch.Generator().manual_seed(4), False, crop_padding=3)
    padded = F.pad(x, (3, 3, 3, 3), mode="reflect")
    offsets = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(7) for dx in range(7)
                if torch.equal(y[i], padded[i, :, dy:dy + 10, dx:dx + 12])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1


def test_rotation_direction_and_rigidity():
    x = _batch(2, 3, 9, 9)
    quarter = _rotate(x, torch.tensor([90.0, -90.0]))
    torch.testing.assert_close(quarter[0], torch.rot90(x[0], 1, (-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(quarter[1], torch.rot90(x[1], -1, (-2, -1)), atol=1e-5, rtol=0)
    # a non-square image rotated by 180 degrees is its double flip, not a stretched copy
    wide = _batch(1, 1, 6, 10)
    torch.testing.assert_close(_rotate(wide, torch.tensor([180.0])), wide.flip(-1).flip(-2),
                               atol=1e-5, rtol=0)
    small = augment(x, torch.Generator().manual_seed(0), False, 0, 1e-3)
    torch.testing.assert_close(small, x, atol=1e-3, rtol=0)


def test_the_digits_read_from_their_file_are_scikit_learns():
    from sklearn.datasets import load_digits
    from tinyscale.curvature.data import digits_arrays

    pixels, labels = digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(pixels, bunch.data.astype(np.uint8))
    np.testing.assert_array_equal(labels, bunch.target)
