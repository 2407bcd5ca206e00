"""The loop over the images still standing, written once for every iterative attack.

An iterative attack is a compiled step `step(scalars, state) -> (state, hit, outputs)`
over per-image arrays (`state`, a dict of `(B, ...)` tensors): `hit` says which images the
step broke and `outputs` what to keep of them. The loop here calls the step, hands the
newly broken images' outputs to the attack, and drops broken images from the batch, so
the later steps run only on the images still standing (AutoAttack runs every step on the
whole batch). Where every new batch size costs a compilation (`jax.jit`), the batch
shrinks by halves (to the next power of two) instead, broken images riding along masked
out, so a run compiles at most log2(B) shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import keras
import numpy as np
from keras import ops

__all__ = ["run", "take"]


def take(state: dict, rows: np.ndarray) -> dict:
    """The rows `rows` of every per-image tensor of `state`."""
    index = ops.convert_to_tensor(np.asarray(rows, np.int32))
    return {k: ops.take(v, index, axis=0) for k, v in state.items()}


def _tensors(values: dict) -> dict:
    return {k: ops.convert_to_tensor(np.asarray(v)) for k, v in values.items()}


def run(
    step: Callable,
    state: dict,
    scalars: Iterable[dict],
    record: Callable[[np.ndarray, np.ndarray, dict], None],
    fixed_shapes: bool,
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Runs `step` once per entry of `scalars` on the images still standing.

    Args:
        step: compiled `(scalars, state) -> (state, hit, outputs)`: `hit` `(B,)` bool,
            `outputs` a dict of `(B, ...)` tensors.
        state: the per-image tensors of the images attacked, all standing at the start.
        scalars: one dict of NumPy scalars per step (the step number, a step size...).
        record: called after each step with the standing images' indices into the
            original batch `(K,)`, which of them the step broke `(K,)` and their
            `outputs` (NumPy, `(K, ...)`).
        fixed_shapes: shrink the batch by halves (`jax.jit`), else at every broken image.

    Returns:
        `(state, images, live)`: the final state, the original index of each of its rows
        and which rows still stand (the others are broken images or padding).
    """
    n = int(ops.shape(next(iter(state.values())))[0])
    images = np.arange(n)  # original index of each row
    live = np.ones(n, bool)  # rows still standing (False: broken, or padding)
    if fixed_shapes and n:
        # Every run starts at a power of two too, so runs on different counts of
        # standing images (restarts, targets, components) share their compilations.
        rows = _padded(images)
        state, images, live = take(state, rows), images[rows], np.arange(len(rows)) < n
    for values in scalars:
        if not live.any():
            break
        state, hit, outputs = step(_tensors(values), state)
        hit = keras.ops.convert_to_numpy(hit).astype(bool) & live
        outputs = {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
        record(images[live], hit[live], {k: v[live] for k, v in outputs.items()})
        if hit.any():
            live &= ~hit
            rows = _shrink(live, fixed_shapes)
            if rows is not None:
                state, images, live = take(state, rows), images[rows], live[rows]
    return state, images, live


def _shrink(live: np.ndarray, fixed_shapes: bool) -> np.ndarray | None:
    """The rows to keep after some broke: the standing ones, or, for fixed shapes, the
    standing ones padded to the next power of two once at most half the rows stand."""
    count = int(live.sum())
    if not fixed_shapes:
        return np.flatnonzero(live)
    if count == 0 or count > len(live) // 2:
        return None
    return _padded(np.flatnonzero(live))


def _padded(rows: np.ndarray) -> np.ndarray:
    """`rows` padded with copies of its first to the next power of two."""
    size = 1 << (len(rows) - 1).bit_length()
    return np.concatenate([rows, np.full(size - len(rows), rows[0])])
