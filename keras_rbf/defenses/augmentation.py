"""Gaussian data augmentation (GDA; Zantedeschi, Nicolae and Rawat, AISec 2017).

The paper's Table 3 compares RBF blocks with GDA: "a data augmentation technique that
augments a dataset with copies of the original samples to which Gaussian noise has been
added". `gaussian_augment` does that per training batch: the batch is returned together
with `ratio` noisy copies of a random subset (labels copied), so every epoch sees the
clean data and fresh noise. The noise level is not given in the paper; `stddev` is an
argument and every report states the value used.
"""

from __future__ import annotations

__all__ = ["gaussian_augment", "GaussianAugment"]


def gaussian_augment(x, y, stddev: float = 0.1, ratio: float = 1.0, clip=(0.0, 1.0), seed=None):
    """A batch plus noisy copies: `concat([x, clip(x_s + N(0, stddev^2))])`, labels alike.

    Args:
        x: `(B, ...)` float images.
        y: `(B, ...)` labels.
        stddev: standard deviation of the additive Gaussian noise, > 0.
        ratio: noisy copies per clean sample, in (0, 1]; the first `round(ratio B)`
            samples of the (shuffled) batch are copied.
        clip: `(low, high)` valid range of the noisy copies, or None.
        seed: optional seed of the noise (a `tf.random` op seed).

    Returns:
        `(x_aug, y_aug)` with `B + round(ratio B)` samples, clean ones first.
    """
    import tensorflow as tf

    if not stddev > 0:
        raise ValueError(f"gaussian_augment: stddev must be > 0, got {stddev}")
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"gaussian_augment: ratio must lie in (0, 1], got {ratio}")
    x = tf.convert_to_tensor(x)
    y = tf.convert_to_tensor(y)
    n = tf.cast(tf.round(ratio * tf.cast(tf.shape(x)[0], tf.float32)), tf.int32)
    src = x[:n]
    noisy = src + tf.random.normal(tf.shape(src), stddev=stddev, dtype=x.dtype, seed=seed)
    if clip is not None:
        noisy = tf.clip_by_value(noisy, clip[0], clip[1])
    return tf.concat([x, noisy], axis=0), tf.concat([y, y[:n]], axis=0)


class GaussianAugment:
    """`gaussian_augment` with fixed settings, as a `(x, y) -> (x, y)` callable for tf.data.

    Args:
        stddev, ratio, clip, seed: as in `gaussian_augment`.
    """

    def __init__(self, stddev: float = 0.1, ratio: float = 1.0, clip=(0.0, 1.0), seed=None):
        if not stddev > 0:
            raise ValueError(f"GaussianAugment: stddev must be > 0, got {stddev}")
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"GaussianAugment: ratio must lie in (0, 1], got {ratio}")
        self.stddev, self.ratio, self.clip, self.seed = float(stddev), float(ratio), clip, seed

    def __call__(self, x, y):
        return gaussian_augment(x, y, self.stddev, self.ratio, self.clip, self.seed)

    def get_config(self) -> dict:
        return {"stddev": self.stddev, "ratio": self.ratio, "clip": self.clip, "seed": self.seed}
