"""RBFMapping on Keras 3 backends other than TensorFlow.

The layer is written with `keras.ops` only, so it runs unchanged under JAX. A child
process with KERAS_BACKEND=jax computes outputs, distances, activations and input
gradients from fixed weights; this (TensorFlow) process computes the same and they must
agree to 1e-5.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

TOL = 1e-5

CHILD = r"""
import sys
import numpy as np
import keras
from keras import ops

assert keras.backend.backend() == sys.argv[3], keras.backend.backend()
from keras_rbf.layers import RBFMapping

fixed = np.load(sys.argv[1])
layer = RBFMapping(units=5, num_centers=7)
layer.build((None, 6))
layer.set_weights([fixed[k] for k in ("centers", "psi_factor", "beta", "kernel", "bias")])
out = {}
for name in ("dense", "maps"):
    x = ops.convert_to_tensor(fixed[name])
    out[name + "_out"] = ops.convert_to_numpy(layer(x))
    out[name + "_dist"] = ops.convert_to_numpy(layer.distances(x))
    out[name + "_phi"] = ops.convert_to_numpy(layer.activations(x))
if keras.backend.backend() == "jax":
    import jax

    grad = jax.grad(lambda x: layer(x).sum())(ops.convert_to_tensor(fixed["dense"]))
    out["dense_grad"] = np.asarray(grad)
np.savez(sys.argv[2], **out)
"""


def _fixed_weights(path: Path) -> dict:
    rng = np.random.RandomState(0)
    fixed = {
        "centers": rng.randn(7, 6),
        "psi_factor": np.eye(6) + 0.3 * rng.randn(6, 6),
        "beta": rng.uniform(0.05, 0.3, 7),
        "kernel": rng.randn(7, 5) * 0.5,
        "bias": rng.randn(5) * 0.1,
        "dense": rng.randn(4, 6),
        "maps": rng.randn(2, 3, 5, 6),
    }
    fixed = {k: v.astype("float32") for k, v in fixed.items()}
    np.savez(path, **fixed)
    return fixed


def test_layer_module_uses_keras_ops_only():
    """No TensorFlow (or other backend) import in the layer: keras.ops is the only math."""
    import keras_rbf.layers

    tree = ast.parse(Path(keras_rbf.layers.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"tensorflow", "jax", "torch"}, imported


def test_jax_backend_matches_tensorflow(tmp_path, run_python):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (it is in the dev extra: pip install -e '.[dev]')")
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference side of this test runs on the TensorFlow backend")
    from keras_rbf.layers import RBFMapping

    fixed = _fixed_weights(tmp_path / "fixed.npz")
    run_python(
        CHILD,
        tmp_path / "fixed.npz",
        tmp_path / "jax.npz",
        "jax",
        cwd=tmp_path,
        timeout=180,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
    )
    got = np.load(tmp_path / "jax.npz")

    layer = RBFMapping(units=5, num_centers=7)
    layer.build((None, 6))
    layer.set_weights([fixed[k] for k in ("centers", "psi_factor", "beta", "kernel", "bias")])
    for name in ("dense", "maps"):
        x = tf.constant(fixed[name])
        for what, fn in (("out", layer), ("dist", layer.distances), ("phi", layer.activations)):
            want = np.asarray(fn(x))
            assert got[f"{name}_{what}"].shape == want.shape
            np.testing.assert_allclose(
                got[f"{name}_{what}"], want, rtol=TOL, atol=TOL, err_msg=f"{name} {what}"
            )
    phi = got["maps_phi"]
    assert 0.01 < phi.mean() < 0.99  # live activations: the comparison is not of constants
    x = tf.constant(fixed["dense"])
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(layer(x))
    np.testing.assert_allclose(
        got["dense_grad"], tape.gradient(total, x).numpy(), rtol=1e-4, atol=TOL
    )
