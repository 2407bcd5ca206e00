"""The loss gradient and the compilation of the attacks, one small module per Keras backend.

The attacks' math is `keras.ops` (it runs wherever Keras 3 runs); only two things differ
between TensorFlow, JAX and PyTorch and live here, in `tensorflow.py`, `jax.py` and
`torch.py`, each with the same three names:

- `value_and_grad(f)`: for `f(x, *args) -> (loss (B,), aux)`, the function
  `(x, *args) -> (loss, aux, d sum(loss) / dx)` (`tf.GradientTape`, `jax.value_and_grad`,
  `torch.autograd.grad`);
- `compile(f)`: `f` compiled for repeated calls (`tf.function`, `jax.jit`, PyTorch's
  eager mode without autograd bookkeeping outside `value_and_grad`);
- `FIXED_SHAPES`: True where every new batch size costs a new compilation (`jax.jit`), so
  the loop over the images still standing (`keras_rbf.attacks.standing`) shrinks its
  batch by halves instead of at every broken image.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import keras

__all__ = ["current"]


def current() -> ModuleType:
    """The module of the Keras backend this process runs (`keras.backend.backend()`)."""
    name = keras.backend.backend()
    if name not in ("tensorflow", "jax", "torch"):
        from keras_rbf.errors import UserError

        raise UserError(
            f"the attacks run on the tensorflow, jax and torch backends; this process runs "
            f"Keras on {name!r}: set KERAS_BACKEND to one of them"
        )
    return importlib.import_module(f"keras_rbf.attacks.backends.{name}")
