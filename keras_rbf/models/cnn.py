"""The CleverHans-tutorial 3-layer MNIST CNN, plain (ORIG) and with RBF blocks (PROP).

ORIG: Conv(64, 8x8, stride 2, same) -> Conv(128, 6x6, stride 2, valid) ->
Conv(128, 5x5, stride 1, valid), each followed by ReLU, then Flatten -> Dense(classes).
PROP: the same with the paper's Fig. 2 block after each conv layer: the conv features
concatenated with their RBF mapping, `rbf_block(x, normalize=rbf_normalize)`.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from keras_rbf.models._common import check_positive_int, check_shared, default_name, maybe_rbf

__all__ = ["build_cnn"]

_KERNELS = ((8, 2, "same"), (6, 2, "valid"), (5, 1, "valid"))


def build_cnn(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    rbf: bool = False,
    rbf_kwargs: dict[str, Any] | None = None,
    rbf_normalize: bool = True,
    classifier_activation: str | None = None,
    name: str | None = None,
    conv_filters: Sequence[int] = (64, 128, 128),
) -> keras.Model:
    """Builds the 3-layer CNN of the paper's MNIST experiments (Table 1).

    Args:
        input_shape: `(H, W, C)` of the images.
        num_classes: size of the output.
        rbf: add an RBF block after each conv layer (PROP) or not (ORIG).
        rbf_kwargs: arguments of each `RBFMapping` (`units`, `num_centers`, `learn_psi`,
            `learn_beta`, `epsilon`, ...).
        rbf_normalize: give each RBF branch layer-normalized features (see `rbf_block`).
        classifier_activation: None for logits (the default; attacks need logits),
            or e.g. "softmax", as in `keras.applications`.
        name: model name; defaults to "cnn" or "cnn_rbf".
        conv_filters: channels of the three conv layers.

    Returns:
        A functional `keras.Model` mapping `(B, H, W, C)` images to `(B, num_classes)`.
    """
    builder = "build_cnn"
    input_shape, num_classes, rbf_kwargs = check_shared(
        builder, input_shape, num_classes, rbf_kwargs
    )
    if len(conv_filters) != 3:
        raise ValueError(
            f"{builder}: `conv_filters` must be 3 positive integers, got {conv_filters!r}"
        )
    conv_filters = [check_positive_int(builder, "conv_filters", f) for f in conv_filters]
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, (width, (size, stride, padding)) in enumerate(zip(conv_filters, _KERNELS), start=1):
        x = keras.layers.Conv2D(
            width,
            size,
            strides=stride,
            padding=padding,
            activation="relu",
            name=f"conv{i}",
        )(x)
        x = maybe_rbf(x, rbf, f"block{i}", rbf_normalize, rbf_kwargs)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name="logits")(x)
    return keras.Model(inputs, outputs, name=default_name("cnn", rbf, name))
