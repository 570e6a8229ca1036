"""The IDX reader: round trips, a fake MNIST folder, and every kind of bad file."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from helpers import write_idx
from tinyscale.idx import DataError, find_idx_file, load_mnist, read_idx

@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_uint8(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 7
    labels = np.array([3, 0, 9, 250], dtype=np.uint8)
    got_x = read_idx(write_idx(tmp_path / "x", images, gz))
    got_y = read_idx(write_idx(tmp_path / "y", labels, gz))
    assert got_x.dtype == np.uint8 and got_x.shape == (2, 3, 4)
    np.testing.assert_array_equal(got_x, images)
    np.testing.assert_array_equal(got_y, labels)


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_other_dtypes_are_big_endian(tmp_path, gz):
    ints = np.array([[1, -2, 70000], [-(2**31), 2**31 - 1, 256]], dtype=np.int32)
    floats = np.array([1.5, -0.25, 3e38], dtype=np.float32)
    got_i = read_idx(write_idx(tmp_path / "i", ints, gz))
    got_f = read_idx(write_idx(tmp_path / "f", floats, gz))
    assert got_i.dtype == np.dtype(np.int32) and got_i.dtype.isnative
    assert got_f.dtype == np.dtype(np.float32) and got_f.dtype.isnative
    np.testing.assert_array_equal(got_i, ints)
    np.testing.assert_array_equal(got_f, floats)


def test_reads_hand_written_big_endian_bytes(tmp_path):
    # int16 vector [1, 258, -1]: header 00 00 0B 01, dim 3, then big-endian payload
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 3, 0x00, 0x01, 0x01, 0x02, 0xFF, 0xFF])
    (tmp_path / "v").write_bytes(raw)
    got = read_idx(tmp_path / "v")
    assert got.dtype == np.dtype(np.int16)
    assert got.tolist() == [1, 258, -1]


def _fake_mnist(folder: Path, n_train: int = 12, n_test: int = 5, hw: tuple = (4, 4)) -> dict:
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
              "y_train": (np.arange(n_train) % 10).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
              "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8)}
    write_idx(folder / "train-images-idx3-ubyte.gz", arrays["x_train"], gz=True)
    write_idx(folder / "train-labels-idx1-ubyte", arrays["y_train"])
    write_idx(folder / "t10k-images.idx3-ubyte", arrays["x_test"])  # dotted variant
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", arrays["y_test"], gz=True)
    return arrays


def test_load_mnist_fake_folder(tmp_path):
    want = _fake_mnist(tmp_path)
    got = load_mnist(tmp_path)
    assert sorted(got) == ["x_test", "x_train", "y_test", "y_train"]
    for key, value in want.items():
        assert got[key].dtype == np.uint8
        np.testing.assert_array_equal(got[key], value)
    assert got["x_train"].shape == (12, 4, 4) and got["y_test"].tolist() == [4, 3, 2, 1, 0]


def test_find_idx_file_prefers_plain_and_lists_candidates(tmp_path):
    write_idx(tmp_path / "a-idx1-ubyte", np.zeros(1, np.uint8))
    write_idx(tmp_path / "a-idx1-ubyte.gz", np.zeros(1, np.uint8), gz=True)
    assert find_idx_file(tmp_path, "a-idx1-ubyte") == tmp_path / "a-idx1-ubyte"
    with pytest.raises(DataError) as err:
        find_idx_file(tmp_path, "b-idx1-ubyte")
    msg = str(err.value)
    assert str(tmp_path) in msg
    for name in ("b-idx1-ubyte", "b-idx1-ubyte.gz", "b.idx1-ubyte", "b.idx1-ubyte.gz"):
        assert name in msg


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    path = tmp_path / ("short.gz" if gz else "short")
    full = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 3, 4) + bytes(range(10))  # needs 12
    path.write_bytes(gzip.compress(full) if gz else full)
    with pytest.raises(DataError, match=r"truncated.*12.*found 10") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "long", np.arange(6, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x01")
    with pytest.raises(DataError, match="trailing") as err:
        read_idx(path)
    assert str(path) in str(err.value) and "found 8" in str(err.value)


@pytest.mark.parametrize("head", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00", b""])
def test_bad_magic(tmp_path, head):
    path = tmp_path / "bad"
    path.write_bytes(head + struct.pack(">I", 1) + b"\x05" if len(head) == 4 else head)
    with pytest.raises(DataError, match="not an IDX file") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_header_shorter_than_declared(tmp_path):
    path = tmp_path / "hdr"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">2I", 2, 2))  # 3 dims, 2 given
    with pytest.raises(DataError, match="3 dimensions") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(bytes([0, 0, 0x08, 1, 0, 0, 0, 50]) + bytes(50))
    path = tmp_path / "broken.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="corrupt gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)
    plain_named_gz = tmp_path / "notgz.gz"
    plain_named_gz.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(plain_named_gz)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere-idx1-ubyte"
    with pytest.raises(DataError, match="not found") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_load_mnist_missing_file_is_named(tmp_path):
    _fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


def test_label_out_of_range(tmp_path):
    _fake_mnist(tmp_path)
    labels = np.array([0, 1, 2, 10, 3], dtype=np.uint8)
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, gz=True)
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path)
    msg = str(err.value)
    assert str(path) in msg and "label 10" in msg and "index 3" in msg


def test_label_count_mismatch(tmp_path):
    _fake_mnist(tmp_path)
    labels_path = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path)
    msg = str(err.value)
    assert str(labels_path) in msg and "train-images-idx3-ubyte.gz" in msg
    assert "11 labels" in msg and "12 images" in msg


def test_wrong_rank_or_dtype(tmp_path):
    _fake_mnist(tmp_path)
    path = write_idx(tmp_path / "t10k-images.idx3-ubyte", np.zeros((5, 16), np.uint8))
    with pytest.raises(DataError, match="3-D uint8") as err:
        load_mnist(tmp_path)
    assert str(path) in str(err.value)
    path.unlink()
    write_idx(tmp_path / "t10k-images.idx3-ubyte", np.zeros((5, 4, 4), np.uint8))
    lab = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.int32), gz=True)
    with pytest.raises(DataError, match="1-D uint8") as err:
        load_mnist(tmp_path)
    assert str(lab) in str(err.value)


def test_prepared_mnist_dataset_is_flat_and_scaled(tmp_path):
    from tinyscale.robustness.data import prepare
    parts = _fake_mnist(tmp_path)
    ds = prepare({"source": "mnist", "mnist_dir": str(tmp_path), "test_fraction": 0.2}, seed=0)
    assert ds.image_shape == (4, 4) and ds.input_dim == 16
    assert np.array_equal(ds.x_train, parts["x_train"].reshape(len(parts["x_train"]), -1))
    x, y = ds.tensors("test")
    assert float(x.max()) <= 1.0 and np.array_equal(y.numpy(), parts["y_test"])
