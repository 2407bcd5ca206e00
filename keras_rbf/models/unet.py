"""U-Net (Ronneberger et al., 2015) with optional RBF blocks (Taghanaki et al., 2019, Fig. 2).

Encoder: `depth` stages of two 3x3 conv + ReLU, each followed by 2x2 max-pooling and a
doubling of the filters; a bottleneck stage; decoder: 2x2 transposed conv up, concatenate
the encoder skip, two 3x3 conv + ReLU. A 1x1 conv gives per-pixel logits.

With `rbf=True` every conv stage (encoder, bottleneck, decoder) is followed by
`rbf_block(..., normalize=True)`: the stage output is concatenated with its RBF mapping,
and that concatenation is what the next layer (and the skip connection) sees.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_rbf.layers import rbf_block

__all__ = ["build_unet"]


def _check_common(input_shape, classes, depth, base_filters, spatial_rank) -> tuple:
    input_shape = tuple(input_shape)
    if len(input_shape) != spatial_rank + 1:
        raise ValueError(
            f"input_shape must be {spatial_rank} spatial sizes + channels, got {input_shape}"
        )
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    if not isinstance(base_filters, int) or base_filters < 1:
        raise ValueError(f"base_filters must be a positive integer, got {base_filters!r}")
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    for size in input_shape[:-1]:
        if size is not None and size % (2**depth):
            raise ValueError(
                f"spatial sizes {input_shape[:-1]} must be divisible by 2**depth = {2**depth} "
                f"so that decoder and encoder feature maps line up"
            )
    return input_shape


def build_unet(
    input_shape: tuple = (64, 64, 3),
    classes: int = 2,
    depth: int = 3,
    base_filters: int = 8,
    rbf: bool = False,
    rbf_kwargs: dict[str, Any] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds a 2D U-Net that outputs per-pixel logits.

    Args:
        input_shape: `(H, W, C)`; H and W divisible by `2**depth` (or None).
        classes: logits per pixel (2 for lesion vs background).
        depth: number of down-sampling steps.
        base_filters: filters of the first stage; doubled at each down-sampling.
        rbf: add an RBF block (concatenated, Fig. 2) after every conv stage.
        rbf_kwargs: extra `RBFMapping` arguments (e.g. `learn_psi=False`).
        name: model name; defaults to "unet" / "unet_rbf".

    Returns:
        A functional `keras.Model` mapping `(B, H, W, C)` images to `(B, H, W, classes)`
        logits.
    """
    input_shape = _check_common(input_shape, classes, depth, base_filters, 2)
    rbf_kwargs = dict(rbf_kwargs or {})

    def stage(x, filters, label):
        for i in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                    name=f"{label}_conv{i}")(x)
        if rbf:
            x = rbf_block(x, normalize=True, name=label, **rbf_kwargs)
        return x

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = stage(x, base_filters * 2**level, f"enc{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = stage(x, base_filters * 2**depth, "bottleneck")
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{level}_up")(x)
        x = keras.layers.Concatenate(name=f"dec{level}_skip")([x, skips[level]])
        x = stage(x, filters, f"dec{level}")
    logits = keras.layers.Conv2D(classes, 1, name="logits")(x)
    return keras.Model(inputs, logits, name=name or ("unet_rbf" if rbf else "unet"))
