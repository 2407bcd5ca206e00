"""The attacks' gradient and compilation on the JAX backend."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

FIXED_SHAPES = True  # jax.jit compiles once per input shape


def value_and_grad(f: Callable) -> Callable:
    """`(x, *args) -> (loss, aux, d sum(loss) / dx)` for `f(x, *args) -> (loss, aux)`."""

    def total(x, *args):
        loss, aux = f(x, *args)
        return jnp.sum(loss), (loss, aux)

    vg = jax.value_and_grad(total, has_aux=True)

    def g(x, *args):
        (_, (loss, aux)), grad = vg(x, *args)
        return loss, aux, grad

    return g


def compile(f: Callable) -> Callable:  # noqa: A001 - the name every backend module shares
    """`f` under `jax.jit` (a Keras model called inside it is traced with its weights)."""
    return jax.jit(f)
