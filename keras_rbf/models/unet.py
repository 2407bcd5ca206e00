"""U-Net (Ronneberger et al., 2015) with optional RBF blocks (Taghanaki et al., 2019, Fig. 2).

Encoder: `encoder_depth` stages of two 3x3 conv + ReLU, each followed by 2x2
max-pooling and a doubling of the filters; a bottleneck stage; decoder: 2x2 transposed
conv up, concatenate the encoder skip, two 3x3 conv + ReLU. A 1x1 conv gives per-pixel
logits.

With `rbf=True` every conv stage (encoder, bottleneck, decoder) is followed by
`rbf_block(..., normalize=rbf_normalize)`: the stage output is concatenated with its RBF
mapping, and that concatenation is what the next layer (and the skip connection) sees.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from keras_rbf.models._common import check_encoder, check_shared, default_name, maybe_rbf

__all__ = ["build_unet"]


def build_unet(
    input_shape: Sequence[int | None] = (64, 64, 3),
    num_classes: int = 2,
    *,
    rbf: bool = False,
    rbf_kwargs: dict[str, Any] | None = None,
    rbf_normalize: bool = True,
    classifier_activation: str | None = None,
    name: str | None = None,
    encoder_depth: int = 3,
    encoder_filters: int = 8,
) -> keras.Model:
    """Builds a 2D U-Net that outputs per-pixel logits.

    Args:
        input_shape: `(H, W, C)`; H and W divisible by `2**encoder_depth` (or None).
        num_classes: logits per pixel (2 for lesion vs background).
        rbf: add an RBF block (concatenated, Fig. 2) after every conv stage.
        rbf_kwargs: extra `RBFMapping` arguments (e.g. `learn_psi=False`).
        rbf_normalize: give each RBF branch layer-normalized features (see `rbf_block`).
        classifier_activation: activation of the 1x1 `logits` conv; None gives logits.
        name: model name; defaults to "unet" / "unet_rbf".
        encoder_depth: number of down-sampling steps.
        encoder_filters: filters of the first encoder stage; doubled at each step.

    Returns:
        A functional `keras.Model` mapping `(B, H, W, C)` images to
        `(B, H, W, num_classes)` logits.
    """
    builder = "build_unet"
    input_shape, num_classes, rbf_kwargs = check_shared(
        builder, input_shape, num_classes, rbf_kwargs
    )
    depth, base = check_encoder(builder, input_shape, encoder_depth, encoder_filters)

    def stage(x, filters, label):
        for i in (1, 2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"{label}_conv{i}"
            )(x)
        return maybe_rbf(x, rbf, label, rbf_normalize, rbf_kwargs)

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = stage(x, base * 2**level, f"enc{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = stage(x, base * 2**depth, "bottleneck")
    for level in reversed(range(depth)):
        filters = base * 2**level
        x = keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{level}_up")(x)
        x = keras.layers.Concatenate(name=f"dec{level}_skip")([x, skips[level]])
        x = stage(x, filters, f"dec{level}")
    logits = keras.layers.Conv2D(num_classes, 1, activation=classifier_activation, name="logits")(x)
    return keras.Model(inputs, logits, name=default_name("unet", rbf, name))
