"""V-Net (Milletari et al., 2016), 2D and 3D, with optional RBF blocks (Fig. 2 of the paper).

Each stage is a residual block: `n` convolutions (kernel 5 in the original) with PReLU,
whose output is added to the stage input (projected by a 1x1 conv where channel counts
differ) and passed through a PReLU. Down-sampling is a stride-2 convolution (kernel 2)
that doubles the channels, up-sampling a stride-2 transposed convolution that halves
them; decoder stages concatenate the encoder skip and add the up-sampled tensor as the
residual, as in the original. A 1x1 conv gives per-pixel (per-voxel) logits.

With `rbf=True` every conv stage (encoder, bottleneck, decoder) is followed by
`rbf_block(..., normalize=rbf_normalize)`; the concatenation is what the next layer and
the skip connection see.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from keras_rbf.models._common import (
    check_encoder,
    check_positive_int,
    check_shared,
    default_name,
    maybe_rbf,
)

__all__ = ["build_vnet"]


def build_vnet(
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
    stage_convs: Sequence[int] | None = None,
    stage_kernel_size: int = 5,
) -> keras.Model:
    """Builds a 2D (`input_shape=(H, W, C)`) or 3D (`(D, H, W, C)`) V-Net with logits output.

    Args:
        input_shape: spatial sizes + channels; spatial sizes divisible by
            `2**encoder_depth`.
        num_classes: logits per pixel/voxel.
        rbf: add an RBF block (concatenated, Fig. 2) after every conv stage.
        rbf_kwargs: extra `RBFMapping` arguments (e.g. `learn_beta=False`).
        rbf_normalize: give each RBF branch layer-normalized features (see `rbf_block`).
        classifier_activation: activation of the 1x1 `logits` conv; None gives logits.
        name: model name; defaults to "vnet" / "vnet_rbf" (+ "3d").
        encoder_depth: number of down-sampling steps.
        encoder_filters: channels of the first encoder stage; doubled at each step.
        stage_convs: convolutions in encoder stages 0..encoder_depth (the bottleneck is
            the last); decoder stage `l` uses the same count as encoder stage `l`.
            Default `(1, 2, 3, 3, ...)` as in the original.
        stage_kernel_size: kernel of the stage convolutions (5 in the original).

    Returns:
        A functional `keras.Model` mapping images/volumes to `(..., num_classes)` logits.
    """
    # Why this function is long: the architecture encoder to decoder in one place, so it can be
    # read against the V-Net paper's figure
    builder = "build_vnet"
    input_shape, num_classes, rbf_kwargs = check_shared(
        builder, input_shape, num_classes, rbf_kwargs, spatial_ranks=(2, 3)
    )
    rank = len(input_shape) - 1
    depth, base = check_encoder(builder, input_shape, encoder_depth, encoder_filters)
    if stage_convs is None:
        stage_convs = [min(1 + level, 3) for level in range(depth + 1)]
    stage_convs = [int(n) for n in stage_convs]
    if len(stage_convs) != depth + 1 or min(stage_convs) < 1:
        raise ValueError(
            f"{builder}: `stage_convs` needs encoder_depth + 1 = {depth + 1} positive "
            f"counts, got {stage_convs}"
        )
    kernel_size = check_positive_int(builder, "stage_kernel_size", stage_kernel_size)
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
        return maybe_rbf(x, rbf, label, rbf_normalize, rbf_kwargs)

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    skips = []
    for level in range(depth):
        filters = base * 2**level
        x = stage(x, x, filters, stage_convs[level], f"enc{level}")
        skips.append(x)
        x = conv(filters * 2, 2, strides=2, name=f"enc{level}_down")(x)
        x = prelu(f"enc{level}_down_prelu")(x)
    x = stage(x, x, base * 2**depth, stage_convs[depth], "bottleneck")
    for level in reversed(range(depth)):
        filters = base * 2**level
        up = conv_up(filters, 2, strides=2, name=f"dec{level}_up")(x)
        up = prelu(f"dec{level}_up_prelu")(up)
        x = keras.layers.Concatenate(name=f"dec{level}_skip")([up, skips[level]])
        x = stage(x, up, filters, stage_convs[level], f"dec{level}")
    logits = conv(num_classes, 1, activation=classifier_activation, name="logits")(x)
    default = default_name("vnet", rbf, None) + ("3d" if rank == 3 else "")
    return keras.Model(inputs, logits, name=name or default)
