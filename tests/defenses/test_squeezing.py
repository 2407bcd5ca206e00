"""Feature squeezers against independent float64 SciPy/NumPy references on random inputs."""

import numpy as np
import pytest
from keras import ops
from scipy import ndimage

from keras_rbf.defenses.squeezing import (
    bit_depth_squeeze,
    gaussian_kernel1d,
    gaussian_squeeze,
    median_squeeze,
)


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=shape)


@pytest.mark.parametrize("size", [2, 3, 5])
def test_median_matches_scipy(size):
    x = _images((2, 9, 11, 3), seed=size)
    ref = ndimage.median_filter(x, size=(1, size, size, 1), mode="reflect")
    out = ops.convert_to_numpy(median_squeeze(x.astype(np.float64), size=size))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    # The filter must have changed something on random input.
    assert np.abs(out - x).max() > 0.1


def test_median_float32_and_identity():
    x = _images((1, 6, 7, 2), seed=3).astype(np.float32)
    out = median_squeeze(x, size=3)
    assert out.dtype == "float32"
    ref = ndimage.median_filter(x.astype(np.float64), size=(1, 3, 3, 1), mode="reflect")
    np.testing.assert_allclose(ops.convert_to_numpy(out), ref, atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(median_squeeze(x, size=1)), x)


@pytest.mark.parametrize("sigma,size", [(1.0, None), (1.0, 3), (0.7, 5), (2.0, None)])
def test_gaussian_matches_scipy(sigma, size):
    x = _images((2, 12, 10, 3), seed=int(10 * sigma))
    radius = int(4.0 * sigma + 0.5) if size is None else size // 2
    ref = ndimage.gaussian_filter(
        x, sigma=(0, sigma, sigma, 0), mode="reflect", radius=(0, radius, radius, 0)
    )
    out = ops.convert_to_numpy(gaussian_squeeze(x, sigma=sigma, size=size))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    assert np.abs(out - x).max() > 0.05


def test_gaussian_kernel_normalized():
    w = gaussian_kernel1d(1.5, 6)
    assert w.shape == (13,) and abs(w.sum() - 1.0) < 1e-15
    np.testing.assert_allclose(w, w[::-1])


@pytest.mark.parametrize("bits", [1, 3, 5, 8])
def test_bit_depth_matches_numpy(bits):
    x = np.random.default_rng(bits).uniform(-0.2, 1.2, size=(3, 5, 4, 1))
    levels = 2**bits - 1
    ref = np.round(np.clip(x, 0, 1) * levels) / levels
    out = ops.convert_to_numpy(bit_depth_squeeze(x, bits))
    np.testing.assert_allclose(out, ref, atol=1e-12)
    assert len(np.unique(out)) <= 2**bits


def test_bad_arguments():
    x = _images((1, 4, 4, 1))
    with pytest.raises(ValueError, match="size"):
        median_squeeze(x, size=0)
    with pytest.raises(ValueError, match="rank 4"):
        median_squeeze(x[0], size=3)
    with pytest.raises(ValueError, match="odd"):
        gaussian_squeeze(x, sigma=1.0, size=4)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_squeeze(x, sigma=0.0)
    with pytest.raises(ValueError, match="padding"):
        gaussian_squeeze(x, sigma=2.0)  # radius 8 > 4 pixels
    with pytest.raises(ValueError, match="bits"):
        bit_depth_squeeze(x, 0)


def test_tensor_dtypes_kept():
    import tensorflow as tf

    x = _images((1, 5, 5, 1), seed=7)
    for dtype in ("float64", "float16"):
        out = median_squeeze(tf.constant(x, dtype=dtype), size=3)
        assert out.dtype == dtype
    assert gaussian_squeeze(tf.constant(x), sigma=0.5).dtype == "float64"
    assert bit_depth_squeeze(np.array([[0.0, 255.0]]) / 255.0, 2).dtype == "float64"
    assert bit_depth_squeeze(np.array([[0, 1]]), 2).dtype == "float32"
