"""Feature squeezing (Xu, Evans and Qi, NDSS 2018): median, Gaussian and bit-depth squeezers.

The paper compares its RBF blocks with three squeezers:

- FSM, median smoothing over a `size x size` window (segmentation, Table 4: 3 x 3),
- FSG, Gaussian smoothing (segmentation, Table 4: sigma 1.0),
- bit-depth reduction (classification, Table 3's "FSM" column: "reduces the precision of
  the components of the original input by encoding them with a smaller number of bits").

All three take NHWC image batches and are written with `keras.ops` only, so they run
inside a model or a `tf.function` and on any Keras 3 backend. `tensorflow-addons` (whose
`tfa.image.median_filter2d` / `gaussian_filter2d` were the usual tools) is not used: it
was archived upstream in 2024 and requires TensorFlow < 2.16, i.e. Keras 2.

Boundary handling matches `scipy.ndimage`'s default `mode="reflect"` (the edge pixel is
repeated: `d c b a | a b c d | d c b a`), which is `numpy.pad(mode="symmetric")`; the
tests compare against `scipy.ndimage.median_filter` / `gaussian_filter` in float64.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = ["median_squeeze", "gaussian_squeeze", "bit_depth_squeeze", "gaussian_kernel1d"]


def _as_float_tensor(x):
    """A float tensor keeping a float input's dtype (Keras would turn float64 NumPy into floatx)."""
    dtype = getattr(x, "dtype", None)
    dtype = None if dtype is None else keras.backend.standardize_dtype(dtype)
    if dtype is not None and dtype.startswith(("float", "bfloat")):
        return ops.convert_to_tensor(x, dtype=dtype)
    return ops.cast(ops.convert_to_tensor(x), "float32")


def _as_nhwc(x, fn: str):
    x = _as_float_tensor(x)
    if len(x.shape) != 4:
        raise ValueError(f"{fn} expects an NHWC batch of rank 4, got shape {tuple(x.shape)}")
    return x


def _pad_symmetric(x, before: int, after: int, fn: str):
    """Pads H and W of an NHWC tensor by mirroring with the edge repeated (scipy 'reflect')."""
    height, width = x.shape[1], x.shape[2]
    for axis, dim in (("height", height), ("width", width)):
        # Symmetric padding can copy at most the whole axis once.
        if dim is not None and max(before, after) > dim:
            raise ValueError(
                f"{fn}: window needs {max(before, after)} pixels of padding but the image "
                f"{axis} is only {dim}; use a smaller window or a larger image"
            )
    return ops.pad(x, ((0, 0), (before, after), (before, after), (0, 0)), mode="symmetric")


def median_squeeze(x, size: int = 3):
    """Median filter over a `size x size` window, per channel (FSM of the paper's Table 4).

    For even `size` the window and the chosen element follow `scipy.ndimage.median_filter`:
    the window spans offsets `-(size // 2) .. (size - 1) // 2` and the element of rank
    `size**2 // 2` (the upper middle) is returned.

    Args:
        x: images, `(N, H, W, C)`.
        size: window side, a positive integer (1 returns `x` unchanged).

    Returns:
        `(N, H, W, C)` tensor, the dtype of `x` (float32 for integer inputs).
    """
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"median_squeeze: `size` must be a positive integer, got {size!r}")
    x = _as_nhwc(x, "median_squeeze")
    if size == 1:
        return x
    height, width = ops.shape(x)[1], ops.shape(x)[2]
    padded = _pad_symmetric(x, size // 2, (size - 1) // 2, "median_squeeze")
    # size**2 shifted views stacked on a new last axis: (N, H, W, C, size**2). For the
    # small windows of feature squeezing this is cheaper and simpler than patch extraction.
    views = [padded[:, i : i + height, j : j + width, :] for i in range(size) for j in range(size)]
    stacked = ops.stack(views, axis=-1)
    return ops.sort(stacked, axis=-1)[..., (size * size) // 2]


def gaussian_kernel1d(sigma: float, radius: int) -> np.ndarray:
    """Normalized 1-D Gaussian weights on offsets `-radius..radius` (as scipy.ndimage).

    Args:
        sigma: standard deviation in pixels, > 0.
        radius: half-width of the kernel, >= 0.

    Returns:
        float64 array of length `2 * radius + 1` summing to 1.
    """
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def gaussian_squeeze(x, sigma: float = 1.0, size: int | None = None):
    """Separable Gaussian blur per channel (FSG of the paper's Table 4: sigma 1.0).

    Args:
        x: images, `(N, H, W, C)`.
        sigma: standard deviation in pixels, > 0.
        size: kernel side, a positive odd integer; `None` uses scipy's default
            truncation, radius `int(4 * sigma + 0.5)`.

    Returns:
        `(N, H, W, C)` tensor, the dtype of `x` (float32 for integer inputs). Equals
        `scipy.ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect",
        radius=size // 2)` up to float rounding.
    """
    sigma = float(sigma)
    if not sigma > 0.0 or not math.isfinite(sigma):
        raise ValueError(f"gaussian_squeeze: `sigma` must be a positive number, got {sigma}")
    if size is None:
        radius = int(4.0 * sigma + 0.5)
    elif isinstance(size, (int, np.integer)) and size >= 1 and size % 2 == 1:
        radius = int(size) // 2
    else:
        raise ValueError(
            f"gaussian_squeeze: `size` must be a positive odd integer or None, got {size!r}"
        )
    x = _as_nhwc(x, "gaussian_squeeze")
    if radius == 0:
        return x
    channels = x.shape[-1]
    if channels is None:
        raise ValueError("gaussian_squeeze needs a known channel dimension")
    weights = ops.convert_to_tensor(gaussian_kernel1d(sigma, radius), dtype=x.dtype)
    # Depthwise kernels (kh, kw, C, 1): the same 1-D Gaussian for every channel, one pass
    # along H and one along W (the 2-D Gaussian is separable).
    k = 2 * radius + 1
    kernel_h = ops.tile(ops.reshape(weights, (k, 1, 1, 1)), (1, 1, channels, 1))
    kernel_w = ops.tile(ops.reshape(weights, (1, k, 1, 1)), (1, 1, channels, 1))
    padded = _pad_symmetric(x, radius, radius, "gaussian_squeeze")
    out = ops.depthwise_conv(padded, kernel_h, strides=1, padding="valid")
    return ops.depthwise_conv(out, kernel_w, strides=1, padding="valid")


def bit_depth_squeeze(x, bits: int):
    """Reduces images in [0, 1] to `bits` bits per component: `round(x (2^b - 1)) / (2^b - 1)`.

    This is Xu et al.'s bit-depth squeezer, the "FSM" defense of the paper's Table 3.
    Values outside [0, 1] are clipped first. The rounding has zero gradient almost
    everywhere, so attacks through it need BPDA (straight-through) to be meaningful.

    Args:
        x: images of any shape with values in [0, 1].
        bits: target depth, an integer in [1, 16].

    Returns:
        tensor of the shape and float dtype of `x`, taking `2**bits` distinct values.
    """
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"bit_depth_squeeze: `bits` must be an integer in [1, 16], got {bits!r}")
    x = _as_float_tensor(x)
    levels = float(2 ** int(bits) - 1)
    return ops.round(ops.clip(x, 0.0, 1.0) * levels) / levels
