"""ChestX-ray14 loader on a tiny fixture in the official layout; Gaussian data augmentation."""

import csv

import numpy as np
import pytest

from keras_rbf import datasets
from keras_rbf.datasets import DatasetNotFoundError, chestxray14
from keras_rbf.datasets.chestxray14 import PAPER_COUNTS, read_entries, sample_split, write_fixture
from keras_rbf.defenses.augmentation import GaussianAugment, gaussian_augment


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("cxr14"), negatives=14, positives=10, size=32)


def test_read_entries_labels(fixture_dir):
    paths, labels = read_entries(fixture_dir)
    with open(fixture_dir / "Data_Entry_2017.csv") as fh:
        rows = list(csv.DictReader(fh))
    expected = [0 if r["Finding Labels"] == "No Finding" else 1 for r in rows]
    np.testing.assert_array_equal(labels, expected)
    assert labels.sum() == 10 and len(labels) == 24
    assert all(p.endswith(r["Image Index"]) for p, r in zip(paths, rows))


def test_paper_counts_and_fraction():
    rng = np.random.RandomState(1)
    labels = rng.permutation(np.r_[np.zeros(60000, int), np.ones(52000, int)])
    splits = sample_split(labels, seed=3)
    for name, (neg, pos) in PAPER_COUNTS.items():
        assert (labels[splits[name]] == 0).sum() == neg
        assert (labels[splits[name]] == 1).sum() == pos
    assert len(splits["test"]) == 200
    small = sample_split(labels, seed=3, fraction=0.01)
    assert [len(small[s]) for s in ("train", "validation", "test")] == [900, 134, 2]


def test_split_disjoint_balanced_reproducible(fixture_dir):
    counts = {"train": (8, 6), "validation": (3, 2), "test": (3, 2)}
    a = datasets.load("chestxray14", data_dir=fixture_dir, seed=5, counts=counts)
    b = chestxray14.load(fixture_dir, seed=5, counts=counts)
    c = chestxray14.load(fixture_dir, seed=6, counts=counts)
    all_paths = np.concatenate([a[s].paths for s in a])
    assert len(set(all_paths)) == len(all_paths) == 24
    for s, (neg, pos) in counts.items():
        assert (a[s].labels == 0).sum() == neg and (a[s].labels == 1).sum() == pos
        np.testing.assert_array_equal(a[s].paths, b[s].paths)
    assert any(not np.array_equal(a[s].paths, c[s].paths) for s in counts)


def test_images_and_dataset_with_gda(fixture_dir):
    split = chestxray14.load(fixture_dir, counts={"test": (2, 2)})["test"]
    x = split.images(40)
    assert x.shape == (4, 40, 40, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05
    # The fixture's positives carry a bright square; the loader must keep it.
    assert x[split.labels == 1].mean() > x[split.labels == 0].mean()
    assert split.images(40, channels=3).shape == (4, 40, 40, 3)
    ds = split.dataset(40, batch_size=4, augment=GaussianAugment(0.1, seed=1))
    xb, yb = next(iter(ds))
    assert xb.shape == (8, 40, 40, 1) and yb.shape == (8,)
    np.testing.assert_array_equal(yb.numpy()[4:], yb.numpy()[:4])
    np.testing.assert_allclose(xb.numpy()[:4], x, atol=1e-6)


def test_split_gives_lazy_x_y_access(fixture_dir):
    """A ChestSplit reads like the `(x, y)` pair of the other data sets, decoding lazily."""
    split = chestxray14.load(fixture_dir, counts={"test": (3, 2)})["test"]
    split.image_size = 40
    x, y = split
    assert len(x) == len(y) == len(split) == 5 and x.shape == (5, 40, 40, 1)
    np.testing.assert_array_equal(y, split.labels)
    np.testing.assert_array_equal(split.y, split.labels)
    full = split.images(40)
    np.testing.assert_array_equal(np.asarray(x), full)
    np.testing.assert_array_equal(x[1:3], full[1:3])
    np.testing.assert_array_equal(x[np.array([4, 0])], full[[4, 0]])
    assert x[2].shape == (40, 40, 1)
    np.testing.assert_array_equal(split.x[y == 1], full[y == 1])
    with pytest.raises(ValueError, match="unknown split"):
        chestxray14.load(fixture_dir, counts={"val": (1, 1)})


def test_gaussian_augment_statistics():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.7, size=(64, 16, 16, 1)).astype("float32")
    y = rng.integers(0, 2, size=64)
    xa, ya = gaussian_augment(x, y, stddev=0.05, ratio=0.5, seed=2)
    xa, ya = xa.numpy(), ya.numpy()
    assert xa.shape == (96, 16, 16, 1)
    np.testing.assert_array_equal(xa[:64], x)
    np.testing.assert_array_equal(ya[64:], y[:32])
    noise = xa[64:] - x[:32]
    assert abs(noise.std() - 0.05) < 0.005 and abs(noise.mean()) < 0.005
    xc, _ = gaussian_augment(x, y, stddev=1.0)
    assert xc.numpy().min() >= 0.0 and xc.numpy().max() <= 1.0
    with pytest.raises(ValueError, match="stddev"):
        gaussian_augment(x, y, stddev=0.0)


def test_clear_errors(tmp_path, fixture_dir, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="Data_Entry_2017.csv"):
        read_entries(tmp_path)
    (tmp_path / "Data_Entry_2017.csv").write_text("Image Index,Finding Labels\nx.png,No Finding\n")
    with pytest.raises(DatasetNotFoundError, match="images"):
        read_entries(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetNotFoundError, match="missing"):
        read_entries(tmp_path)
    (tmp_path / "Data_Entry_2017.csv").write_text("Image,Labels\nx.png,No Finding\n")
    with pytest.raises(ValueError, match="Finding Labels"):
        read_entries(tmp_path)
    with pytest.raises(ValueError, match="Not enough positive"):
        chestxray14.load(fixture_dir, counts={"train": (5, 11)})
    with pytest.raises(ValueError, match="Not enough negative"):
        chestxray14.load(fixture_dir)  # the paper's counts
    monkeypatch.delenv(chestxray14.ENV_VAR, raising=False)
    with pytest.raises(DatasetNotFoundError, match="data_dir"):
        chestxray14.load(None)
