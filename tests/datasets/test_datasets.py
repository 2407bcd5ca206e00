"""Data loaders: IDX format, MNIST's splits and shipped test split, errors for missing data."""

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
    from keras_rbf.datasets import fashion_mnist

    arrays = _fashion_fixture(tmp_path / "fm")
    monkeypatch.setattr(fashion_mnist, "N_TRAIN", 4)  # 55,000 of 60,000 on the real files
    splits = datasets.load("fashion_mnist", path=tmp_path / "fm")
    assert list(splits) == ["train", "validation", "test"]
    (x, _), (xv, yv), (xt, yt) = splits["train"], splits["validation"], splits["test"]
    assert x.shape == (4, 28, 28, 1) and xt.shape == (4, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0] * 255.0, arrays["x_train"][:4], atol=1e-3)
    np.testing.assert_allclose(xv[..., 0] * 255.0, arrays["x_train"][4:], atol=1e-3)
    np.testing.assert_array_equal(yv, arrays["y_train"][4:])
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


def test_mnist_without_the_full_file_gives_the_shipped_test_split(capsys):
    """conftest points Keras' cache at an empty folder, as on a fresh install."""
    from keras_rbf.datasets import mnist

    assert not mnist.cache_file().exists()
    splits = datasets.load("mnist")
    assert list(splits) == ["test"]
    x, y = splits["test"]
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() == 1.0
    # MNIST's test label counts (LeCun et al.): 980 zeros, 1,135 ones, ...
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    with pytest.raises(DatasetNotFoundError, match="mnist.npz.*KERAS_RBF_MNIST"):
        datasets.require("mnist", splits)


def _fake_mnist(path, monkeypatch, n_train=12):
    """A `mnist.npz` in Keras' format with random pixels, its digests made MNIST's, and
    the train/validation boundary moved from 55,000 of 60,000 to 10 of 12."""
    import hashlib

    from keras_rbf.datasets import mnist

    rng = np.random.default_rng(3)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 7, dtype=np.uint8),
    }
    np.savez_compressed(path, **arrays)
    digests = {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in arrays.items()}
    monkeypatch.setattr(mnist, "SHA256", digests)
    monkeypatch.setattr(mnist, "N_TRAIN", n_train - 2)
    return arrays


def test_full_mnist_splits_train_validation_test(tmp_path, monkeypatch):
    arrays = _fake_mnist(tmp_path / "mnist.npz", monkeypatch)
    for how in ("path", "env"):
        if how == "env":
            monkeypatch.setenv("KERAS_RBF_MNIST", str(tmp_path / "mnist.npz"))
        splits = datasets.load(
            "mnist", **({"path": tmp_path / "mnist.npz"} if how == "path" else {})
        )
        assert list(splits) == ["train", "validation", "test"]
        (x, y), (xv, yv), (xt, yt) = splits["train"], splits["validation"], splits["test"]
        assert x.shape == (10, 28, 28, 1) and xv.shape == (2, 28, 28, 1) and len(xt) == 7
        np.testing.assert_array_equal(yv, arrays["y_train"][10:])
        np.testing.assert_allclose(xv[..., 0] * 255.0, arrays["x_train"][10:], atol=1e-3)
        np.testing.assert_array_equal(y, arrays["y_train"][:10])
        assert xt.dtype == np.float32 and yt.dtype == np.int64


def test_full_mnist_in_keras_cache_is_found(tmp_path, monkeypatch):
    from keras_rbf.datasets import mnist

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    _fake_mnist(tmp_path / "datasets" / "mnist.npz", monkeypatch)
    assert mnist.cache_file() == tmp_path / "datasets" / "mnist.npz"
    assert list(datasets.load("mnist")) == ["train", "validation", "test"]


def test_mnist_refuses_missing_and_foreign_files(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="other.npz.*from path="):
        datasets.load("mnist", path=tmp_path / "other.npz")
    monkeypatch.setenv("KERAS_RBF_MNIST", str(tmp_path / "gone.npz"))
    with pytest.raises(DatasetNotFoundError, match="KERAS_RBF_MNIST"):
        datasets.load("mnist")
    monkeypatch.delenv("KERAS_RBF_MNIST")
    _fake_mnist(tmp_path / "mnist.npz", monkeypatch)
    from keras_rbf.datasets import mnist

    monkeypatch.setitem(mnist.SHA256, "x_test", "0" * 64)  # another data set's arrays
    with pytest.raises(DatasetNotFoundError, match="x_test is not MNIST's"):
        datasets.load("mnist", path=tmp_path / "mnist.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DatasetNotFoundError, match="not a readable MNIST file"):
        datasets.load("mnist", path=tmp_path / "broken.npz")


def test_mnist_never_downloads_unless_asked(monkeypatch):
    import keras

    calls = []
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: calls.append(1))
    datasets.load("mnist")
    assert calls == []


def test_unknown_data_set_lists_known_ones():
    with pytest.raises(ValueError, match="fashion_mnist"):
        datasets.load("cifar10")


def test_every_loader_returns_the_split_contract(tmp_path, write_isic, monkeypatch):
    """Every loader: a dict from split names among SPLITS to `(x, y)` of equal length."""
    from keras_rbf.datasets import fashion_mnist
    from keras_rbf.datasets.chestxray14 import write_fixture

    monkeypatch.setattr(fashion_mnist, "N_TRAIN", 4)  # of the fixture's 6 training images
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
        assert set(splits) <= set(datasets.SPLITS) and "test" in splits, name
        # without its full file (as here) MNIST gives its shipped test split alone
        assert "train" in splits or name == "mnist", name
        for split in splits.values():
            x, y = split
            assert len(x) == len(y) > 0, name
            assert np.asarray(x[:1]).dtype == np.float32 and np.ptp(np.asarray(x[:1])) > 0, name
