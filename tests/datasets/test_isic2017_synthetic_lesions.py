"""The ISIC 2017 loader (on a fixture in the official layout) and the synthetic lesion
generator."""

import numpy as np
import pytest
from PIL import Image

from keras_rbf.datasets import DatasetNotFoundError, isic2017, load, synthetic_lesions


def test_isic_loader_reads_official_layout(tmp_path, write_isic):
    rng = np.random.RandomState(0)
    masks = write_isic(
        tmp_path,
        ("ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth"),
        [12, 3, 7],
        rng=rng,
    )
    write_isic(
        tmp_path,
        ("ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part1_GroundTruth"),
        [100],
        rng=rng,
    )
    write_isic(
        tmp_path,
        ("ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Part1_GroundTruth"),
        [200, 201],
        rng=rng,
    )
    out = load("isic2017", data_dir=str(tmp_path), image_size=(14, 20))
    x, y = out["train"]
    assert x.shape == (3, 14, 20, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (3, 14, 20) and set(np.unique(y)) <= {0, 1}
    # Sorted by id: 3, 7, 12; at native size a nearest resize is the identity.
    for row, i in enumerate([3, 7, 12]):
        np.testing.assert_array_equal(y[row], masks[i] // 255)
    assert len(out["validation"][0]) == 1 and len(out["test"][0]) == 2
    small = isic2017.load(
        str(tmp_path), splits=("test",), image_size=(8, 8), as_tf_data=True, batch_size=2
    )
    xb, yb = next(iter(small["test"]))
    assert tuple(xb.shape) == (2, 8, 8, 3) and tuple(yb.shape) == (2, 8, 8)


def test_isic_loader_lists_unpaired_and_unreadable_files(tmp_path, write_isic):
    dirs = ("ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth")
    write_isic(tmp_path, dirs, [1, 2, 3])
    (tmp_path / dirs[1] / "ISIC_0000002_segmentation.png").unlink()
    Image.fromarray(np.zeros((4, 4), "uint8")).save(
        tmp_path / dirs[1] / "ISIC_0000009_segmentation.png"
    )
    with pytest.raises(isic2017.ISICLayoutError) as err:
        isic2017.list_pairs(tmp_path, "train")
    assert "ISIC_0000002.jpg" in str(err.value) and "ISIC_0000009_segmentation.png" in str(
        err.value
    )
    (tmp_path / dirs[1] / "ISIC_0000009_segmentation.png").unlink()
    (tmp_path / dirs[0] / "ISIC_0000002.jpg").unlink()
    (tmp_path / dirs[0] / "ISIC_0000003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(isic2017.ISICLayoutError, match="unreadable image: .*ISIC_0000003.jpg"):
        isic2017.load_split(tmp_path, "train")
    with pytest.raises(DatasetNotFoundError, match="Validation"):
        isic2017.list_pairs(tmp_path, "validation")
    with pytest.raises(DatasetNotFoundError, match="KERAS_RBF_ISIC2017_DIR"):
        isic2017.load_split(None, "train")


def test_synthetic_lesions_are_seeded_and_plausible():
    x1, y1 = synthetic_lesions.generate(6, size=32, seed=5)
    x2, y2 = synthetic_lesions.generate(6, size=32, seed=5)
    x3, _ = synthetic_lesions.generate(6, size=32, seed=6)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(x1, x3)
    assert x1.shape == (6, 32, 32, 3) and y1.shape == (6, 32, 32) and x1.dtype == np.float32
    frac = y1.mean(axis=(1, 2))
    assert np.all(frac > 0.02) and np.all(frac < 0.8)
    # Lesions are darker than the skin around them.
    for img, m in zip(x1, y1):
        assert img[m == 1].mean() < img[m == 0].mean()
    splits = load("synthlesion", sizes={"train": 3, "validation": 2, "test": 2}, size=16)
    assert [len(splits[s][0]) for s in ("train", "validation", "test")] == [3, 2, 2]
    assert not np.allclose(splits["train"][0][:2], splits["test"][0])
    with pytest.raises(ValueError):
        synthetic_lesions.generate(0)
