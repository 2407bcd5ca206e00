"""Small MNIST classifiers shared by the attack tests (trained in seconds, logits out)."""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from keras_rbf import datasets
from keras_rbf.attacks.base import lp_norms


@functools.cache
def mnist():
    """`((x_train, y_train), (x_test, y_test))` from the MNIST test split shipped in the
    package (no test may need the full file): train on its last 5,000, test on the first."""
    x, y = datasets.load("mnist")["test"]
    return (x[5000:], y[5000:]), (x[:5000], y[:5000])


def small_cnn(seed: int = 0) -> keras.Model:
    """A 2-conv CNN with logits output."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


@functools.cache
def trained_cnn(epochs: int = 2, seed: int = 0) -> keras.Model:
    """`small_cnn` trained for a few seconds on 5,000 MNIST images (~90 % clean)."""
    (x, y), _ = mnist()
    model = small_cnn(seed)
    model.compile(
        keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return model


def mnist_test(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` test images and labels."""
    _, (x, y) = mnist()
    return x[offset : offset + n], y[offset : offset + n]


def art_classifier(model: keras.Model):
    """ART's TensorFlowV2Classifier around a logits model (the reference's view of it)."""
    import tensorflow as tf
    from art.estimators.classification import TensorFlowV2Classifier

    return TensorFlowV2Classifier(
        model,
        nb_classes=int(model.output_shape[-1]),
        input_shape=tuple(model.input_shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )


class Counting:
    """A logits callable that counts the images it has seen (also inside tf.function)."""

    def __init__(self, model):
        self.model = model
        self.images = tf.Variable(0, dtype=tf.int64)

    def __call__(self, x):
        self.images.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return self.model(x, training=False)


def robust(model, x_adv: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image: does the model still classify the (adversarial) image correctly?"""
    return np.argmax(np.asarray(model(x_adv, training=False)), -1) == y


def check_inside(model, x, y, x_adv, broken, norm: str, eps: float) -> None:
    """Adversarial images lie in the eps-ball of `norm` (up to float32 rounding, 1e-5 of
    eps) and in [0, 1], and exactly the images counted broken are misclassified."""
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    delta = np.asarray(x_adv, np.float64) - x
    assert np.all(lp_norms(delta, norm, np.float64) <= eps * (1 + 1e-5))
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    np.testing.assert_array_equal(robust(model, x_adv, y), ~broken)
