"""The attacks' gradient and compilation on the TensorFlow backend."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

FIXED_SHAPES = False  # the step is traced once, with a None batch dimension


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
    """`f` as one `tf.function`, traced once for every batch size.

    One trace per shape beyond the batch dimension (e.g. Square's number of queries),
    each with an `input_signature` whose first dimensions are None: such a `tf.function`
    skips the matching of its arguments against every trace's types that
    `reduce_retracing` does on each call (measured: a tenth of APGD's time on MNIST on
    CPU).
    """
    traces: dict = {}

    def run(*args):
        spec = tf.nest.map_structure(_loose_spec, args)
        key = tuple((s.shape[1:], s.dtype) for s in tf.nest.flatten(spec))
        if key not in traces:
            traces[key] = tf.function(f, input_signature=spec)
        return traces[key](*args)

    return run


def _loose_spec(t) -> tf.TensorSpec:
    t = tf.convert_to_tensor(t)
    shape = [None, *t.shape[1:]] if t.shape.rank else []
    return tf.TensorSpec(shape, t.dtype)
