"""What every model family shares: argument checks and the insertion of RBF blocks.

Private to `keras_rbf.models`; the builders call these so that the shared arguments
(`input_shape`, `num_classes`, `rbf`, `rbf_kwargs`, `rbf_normalize`,
`classifier_activation`, `name`) are checked and mean the same thing in every family.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from keras_rbf.layers import rbf_block

# `rbf_block` arguments the builders set themselves (per block), so `rbf_kwargs` must not.
_RESERVED_RBF_KWARGS = ("name", "normalize")


def check_positive_int(builder: str, arg: str, value: Any) -> int:
    """`value` as an int; ValueError naming `builder` and `arg` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{builder}: `{arg}` must be a positive integer, got {value!r}")
    return int(value)


def check_shared(
    builder: str,
    input_shape: Sequence[int | None],
    num_classes: int,
    rbf_kwargs: dict[str, Any] | None,
    spatial_ranks: Sequence[int] = (2,),
) -> tuple[tuple, int, dict[str, Any]]:
    """Checks the arguments every builder takes.

    Args:
        builder: the builder's name, for the messages.
        input_shape: spatial sizes + channels (channels last).
        num_classes: outputs per example (or per pixel).
        rbf_kwargs: `RBFMapping` arguments, or None.
        spatial_ranks: accepted numbers of spatial axes (2 for images, 3 for volumes).

    Returns:
        `(input_shape, num_classes, rbf_kwargs)` as tuple, int and a fresh dict.

    Raises:
        ValueError: one line naming the bad argument and what it must be.
    """
    try:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    except TypeError:
        raise ValueError(
            f"{builder}: `input_shape` must be a sequence, got {input_shape!r}"
        ) from None
    if len(input_shape) - 1 not in spatial_ranks:
        wanted = " or ".join(f"{r} spatial sizes + channels" for r in spatial_ranks)
        raise ValueError(f"{builder}: `input_shape` must be {wanted}, got {input_shape}")
    if input_shape[-1] is None or input_shape[-1] < 1:
        raise ValueError(f"{builder}: `input_shape` needs a known channel count, got {input_shape}")
    num_classes = check_positive_int(builder, "num_classes", num_classes)
    if rbf_kwargs is not None and not isinstance(rbf_kwargs, dict):
        raise ValueError(f"{builder}: `rbf_kwargs` must be a dict or None, got {rbf_kwargs!r}")
    rbf_kwargs = dict(rbf_kwargs or {})
    reserved = [k for k in _RESERVED_RBF_KWARGS if k in rbf_kwargs]
    if reserved:
        raise ValueError(
            f"{builder}: `rbf_kwargs` may not set {reserved}: the builder names each block, "
            "and normalization is the `rbf_normalize` argument"
        )
    return input_shape, num_classes, rbf_kwargs


def check_encoder(
    builder: str, input_shape: tuple, encoder_depth: int, encoder_filters: int
) -> tuple[int, int]:
    """Checks an encoder-decoder's depth and width against its input.

    Spatial sizes must be divisible by `2**encoder_depth` so that every decoder feature
    map lines up with its encoder skip.

    Returns:
        `(encoder_depth, encoder_filters)` as ints.
    """
    encoder_depth = check_positive_int(builder, "encoder_depth", encoder_depth)
    encoder_filters = check_positive_int(builder, "encoder_filters", encoder_filters)
    step = 2**encoder_depth
    if any(size is not None and size % step for size in input_shape[:-1]):
        raise ValueError(
            f"{builder}: spatial sizes {input_shape[:-1]} must be divisible by "
            f"2**encoder_depth = {step}; pad the input or lower `encoder_depth`"
        )
    return encoder_depth, encoder_filters


def maybe_rbf(x, rbf: bool, name: str, normalize: bool, rbf_kwargs: dict[str, Any]):
    """`x`, or the paper's Fig. 2 block on it (`rbf_block`) when `rbf`.

    Args:
        x: symbolic tensor `(..., K)`.
        rbf: insert the block or not.
        name: base name of the block's layers (`{name}_norm`, `{name}_rbf`,
            `{name}_concat`); saved weights are matched by these names.
        normalize: the RBF branch sees `LayerNormalization(x)` (see `rbf_block`).
        rbf_kwargs: `RBFMapping` arguments.

    Returns:
        `x` or `(..., K + units)`.
    """
    if not rbf:
        return x
    return rbf_block(x, normalize=normalize, name=name, **rbf_kwargs)


def default_name(family: str, rbf: bool, name: str | None) -> str:
    """`name`, or the family's default: `family` or `family_rbf`."""
    return name or (f"{family}_rbf" if rbf else family)
