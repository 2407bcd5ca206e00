"""The attacks' per-example losses on logits, in `keras.ops` (every Keras 3 backend).

AutoAttack's: cross-entropy, DLR and targeted DLR (APGD), the margin (Square's loss and
what DLR divides); each returns a `(B,)` tensor for `(B, K)` logits and `(B,)` labels.
"""

from __future__ import annotations

import numpy as np
from keras import ops

__all__ = ["at", "ce_loss", "ce_targeted_loss", "dlr_loss", "dlr_targeted_loss", "margin"]


def at(values, index):
    """`values[b, index[b]]` for `(B, K)` values and `(B,)` integer indices."""
    index = ops.expand_dims(ops.cast(index, "int32"), -1)
    return ops.take_along_axis(values, index, axis=-1)[:, 0]


def _descending(logits):
    return ops.flip(ops.sort(logits, axis=-1), axis=-1)


def ce_loss(logits, y, t=None):
    """Per-example cross-entropy of integer labels `y`, `(B,)`; `t` is unused."""
    return ops.sparse_categorical_crossentropy(y, logits, from_logits=True)


def margin(logits, y):
    """Per-example margin `z_y - max_{i != y} z_i` (negative when misclassified), `(B,)`."""
    mine = ops.one_hot(ops.cast(y, "int32"), ops.shape(logits)[-1]) > 0
    return at(logits, y) - ops.max(ops.where(mine, -np.inf, logits), axis=-1)


def dlr_loss(logits, y, t=None):
    """Per-example DLR loss `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)`, `(B,)`."""
    top = _descending(logits)
    return -margin(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted_loss(logits, y, t):
    """Per-example targeted DLR `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`."""
    top = _descending(logits)
    return -(at(logits, y) - at(logits, t)) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def ce_targeted_loss(logits, y, t):
    """Per-example targeted loss: minus the cross-entropy of the targets `t`, `(B,)`."""
    return -ops.sparse_categorical_crossentropy(t, logits, from_logits=True)
