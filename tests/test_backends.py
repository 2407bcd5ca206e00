"""The zoo's models on every Keras 3 backend: same weights, same logits, same gradients.

A child process per backend (KERAS_BACKEND=jax, torch) loads `cnn_mnist` and
`cnn_rbf_mnist` from the zoo's local files right after `import keras_rbf`, and computes
logits and the input gradient of a fixed random weighting of the logits (the
cross-entropy of confident models is flat: its gradient would be ~1e-8) with that backend's own
autodiff (`jax.grad`, `torch.autograd`); this (TensorFlow) process computes the same with
`tf.GradientTape`. They must agree: the weights load and the math (RBFMapping included,
`keras.ops` only) is the same on every backend.
"""

from __future__ import annotations

import numpy as np

MODELS = ("cnn_mnist", "cnn_rbf_mnist")
N = 32

CHILD = r"""
import sys
import numpy as np
import keras
from keras import ops

assert keras.backend.backend() == sys.argv[2], keras.backend.backend()
import keras_rbf
from keras_rbf.evaluate import load_test_split

x, y = load_test_split("mnist")
x, y = x[5000 : 5000 + int(sys.argv[3])], y[5000 : 5000 + int(sys.argv[3])]
w = ops.convert_to_tensor(np.random.default_rng(0).normal(size=(len(x), 10)).astype("float32"))
out = {}
for name in sys.argv[4:]:
    model = keras_rbf.zoo.load(name)

    def loss(xb):
        return ops.sum(model(xb) * w)

    out[name + "_logits"] = ops.convert_to_numpy(model(ops.convert_to_tensor(x)))
    if sys.argv[2] == "jax":
        import jax

        out[name + "_grad"] = np.asarray(jax.grad(loss)(ops.convert_to_tensor(x)))
    else:
        import torch

        xt = torch.tensor(x, requires_grad=True)
        loss(xt).backward()
        out[name + "_grad"] = xt.grad.numpy()
np.savez(sys.argv[1], **out)
"""


def test_zoo_models_agree_across_backends(other_backend, tmp_path, run_python):
    backend = other_backend
    import tensorflow as tf

    import keras_rbf
    from keras_rbf.evaluate import load_test_split

    run_python(
        CHILD,
        tmp_path / "out.npz",
        backend,
        str(N),
        *MODELS,
        cwd=tmp_path,
        timeout=300,
        KERAS_BACKEND=backend,
        JAX_PLATFORMS="cpu",
    )
    got = np.load(tmp_path / "out.npz")
    x, y = load_test_split("mnist")
    x = tf.constant(x[5000 : 5000 + N])
    w = np.random.default_rng(0).normal(size=(N, 10)).astype("float32")
    for name in MODELS:
        model = keras_rbf.zoo.load(name)
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x)
            loss = tf.reduce_sum(logits * w)
        grad = tape.gradient(loss, x).numpy()
        assert np.abs(grad).max() > 1e-3  # a real gradient: the comparison is not of zeros
        np.testing.assert_allclose(got[name + "_logits"], logits.numpy(), rtol=1e-4, atol=1e-4)
        scale = np.abs(grad).max()
        np.testing.assert_allclose(got[name + "_grad"], grad, rtol=1e-3, atol=1e-4 * scale)
