"""The attacks' gradient and compilation on the TensorFlow backend."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

FIXED_SHAPES = False  # a tf.function with reduce_retracing traces a None batch dimension


def value_and_grad(f: Callable) -> Callable:
    """`(x, *args) -> (loss, aux, d sum(loss) / dx)` for `f(x, *args) -> (loss, aux)`."""

    def g(x, *args):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss, aux = f(x, *args)
            total = tf.reduce_sum(loss)
        return loss, aux, tape.gradient(total, x)

    return g


def compile(f: Callable) -> Callable:  # noqa: A001 - the name every backend module shares
    """`f` as one `tf.function`, traced once for every batch size."""
    return tf.function(f, reduce_retracing=True)
