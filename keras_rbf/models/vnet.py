"""V-Net (Milletari et al., 2016), 2D and 3D, with optional RBF blocks (Fig. 2 of the paper).

Each stage is a residual block: `n` convolutions (kernel 5 in the original) with PReLU,
whose output is added to the stage input (projected by a 1x1 conv where channel counts
differ) and passed through a PReLU. Down-sampling is a stride-2 convolution (kernel 2)
that doubles the channels, up-sampling a stride-2 transposed convolution that halves
them; decoder stages concatenate the encoder skip and add the up-sampled tensor as the
residual, as in the original. A 1x1 conv gives per-pixel (per-voxel) logits.

With `rbf=True` every conv stage (encoder, bottleneck, decoder) is followed by
`rbf_block(..., normalize=True)`; the concatenation is what the next layer and the skip
connection see.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from keras_rbf.layers import rbf_block
from keras_rbf.models.unet import _check_common

__all__ = ["build_vnet"]


def build_vnet(
    input_shape: tuple = (64, 64, 3),
    classes: int = 2,
    depth: int = 3,
    base_filters: int = 8,
    convs_per_stage: Sequence[int] | None = None,
    kernel_size: int = 5,
    rbf: bool = False,
    rbf_kwargs: dict[str, Any] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds a 2D (`input_shape=(H, W, C)`) or 3D (`(D, H, W, C)`) V-Net with logits output.

    Args:
        input_shape: spatial sizes + channels; spatial sizes divisible by `2**depth`.
        classes: logits per pixel/voxel.
        depth: number of down-sampling steps.
        base_filters: channels of the first stage; doubled at each down-sampling.
        convs_per_stage: convolutions in encoder stages 0..depth (the bottleneck is the
            last); decoder stage `l` uses the same count as encoder stage `l`. Default
            `(1, 2, 3, 3, ...)` as in the original.
        kernel_size: kernel of the stage convolutions (5 in the original).
        rbf: add an RBF block (concatenated, Fig. 2) after every conv stage.
        rbf_kwargs: extra `RBFMapping` arguments (e.g. `learn_beta=False`).
        name: model name; defaults to "vnet" / "vnet_rbf" (+ "3d").

    Returns:
        A functional `keras.Model` mapping images/volumes to `(..., classes)` logits.
    """
    if len(tuple(input_shape)) not in (3, 4):
        raise ValueError(
            f"input_shape must be (H, W, C) for 2D or (D, H, W, C) for 3D, got {input_shape}"
        )
    rank = len(tuple(input_shape)) - 1
    input_shape = _check_common(input_shape, classes, depth, base_filters, rank)
    if convs_per_stage is None:
        convs_per_stage = [min(1 + level, 3) for level in range(depth + 1)]
    convs_per_stage = [int(n) for n in convs_per_stage]
    if len(convs_per_stage) != depth + 1 or min(convs_per_stage) < 1:
        raise ValueError(
            f"convs_per_stage needs depth + 1 = {depth + 1} positive counts, got {convs_per_stage}"
        )
    if not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer, got {kernel_size!r}")
    rbf_kwargs = dict(rbf_kwargs or {})
    conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
    conv_up = keras.layers.Conv2DTranspose if rank == 2 else keras.layers.Conv3DTranspose
    # PReLU with one slope per channel, shared over space, so any spatial size works.
    shared = list(range(1, rank + 1))

    def prelu(label):
        return keras.layers.PReLU(shared_axes=shared, name=label)

    def stage(x, residual, filters, n_convs, label):
        for i in range(n_convs):
            x = conv(filters, kernel_size, padding="same", name=f"{label}_conv{i + 1}")(x)
            if i < n_convs - 1:
                x = prelu(f"{label}_prelu{i + 1}")(x)
        if residual.shape[-1] != filters:
            residual = conv(filters, 1, name=f"{label}_proj")(residual)
        x = keras.layers.Add(name=f"{label}_add")([x, residual])
        x = prelu(f"{label}_out")(x)
        if rbf:
            x = rbf_block(x, normalize=True, name=label, **rbf_kwargs)
        return x

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    skips = []
    for level in range(depth):
        filters = base_filters * 2**level
        x = stage(x, x, filters, convs_per_stage[level], f"enc{level}")
        skips.append(x)
        x = conv(filters * 2, 2, strides=2, name=f"enc{level}_down")(x)
        x = prelu(f"enc{level}_down_prelu")(x)
    x = stage(x, x, base_filters * 2**depth, convs_per_stage[depth], "bottleneck")
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        up = conv_up(filters, 2, strides=2, name=f"dec{level}_up")(x)
        up = prelu(f"dec{level}_up_prelu")(up)
        x = keras.layers.Concatenate(name=f"dec{level}_skip")([up, skips[level]])
        x = stage(x, up, filters, convs_per_stage[level], f"dec{level}")
    logits = conv(classes, 1, name="logits")(x)
    default = ("vnet_rbf" if rbf else "vnet") + ("3d" if rank == 3 else "")
    return keras.Model(inputs, logits, name=name or default)
