"""RBFMapping under Keras mixed-precision policies (mixed_float16, mixed_bfloat16).

The layer keeps its variables and its distance / exp math in float32 (half precision
would underflow exp(-beta D) and lose the cancellation in the expanded distance) and
returns its output in the policy's compute dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

POLICIES = ["mixed_float16", "mixed_bfloat16"]


@pytest.fixture
def policy(request):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    try:
        yield request.param
    finally:
        keras.config.set_dtype_policy(previous)


def _reference_distances(x, centers, psi_factor, epsilon):
    """Eq. 3 in float64 NumPy: (f - c)^T Psi^-1 (f - c), Psi = A A^T + eps I."""
    x, centers, a = (np.asarray(v, "float64") for v in (x, centers, psi_factor))
    psi_inv = np.linalg.inv(a @ a.T + epsilon * np.eye(a.shape[0]))
    diff = x.reshape(-1, x.shape[-1])[:, None, :] - centers[None, :, :]
    return np.einsum("npk,kl,npl->np", diff, psi_inv, diff).reshape(*x.shape[:-1], -1)


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_distance_math_stays_float32(policy):
    from keras_rbf.layers import RBFMapping

    compute = keras.DTypePolicy(policy).compute_dtype
    rng = np.random.RandomState(0)
    layer = RBFMapping(units=5, num_centers=7)
    x = keras.ops.convert_to_tensor(rng.randn(3, 4, 6).astype("float32") * 2.0, dtype=compute)
    out = layer(x)
    assert layer.compute_dtype == compute and layer.variable_dtype == "float32"
    assert all(v.dtype == "float32" for v in layer.weights)
    assert keras.backend.standardize_dtype(out.dtype) == compute
    a = (np.eye(6) + 0.3 * rng.randn(6, 6)).astype("float32")
    layer.psi_factor.assign(a)
    dist, phi = layer.distances(x), layer.activations(x)
    assert keras.backend.standardize_dtype(dist.dtype) == "float32"
    assert keras.backend.standardize_dtype(phi.dtype) == "float32"
    # Same (half-precision-rounded) inputs, float64 reference: float32 accuracy expected.
    x64 = keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))
    want = _reference_distances(x64, keras.ops.convert_to_numpy(layer.centers), a, layer.epsilon)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dist), want, rtol=2e-4, atol=2e-4)

    # Widths with beta_k D_k = 25 at a test point: exp(-25) ~ 1.4e-11 is 0 in float16
    # (smallest subnormal ~6e-8) but must come out right, as the math is float32.
    point = keras.ops.convert_to_tensor(rng.randn(1, 6).astype("float32"), dtype=compute)
    d_point = _reference_distances(
        keras.ops.convert_to_numpy(keras.ops.cast(point, "float32")),
        keras.ops.convert_to_numpy(layer.centers),
        a,
        layer.epsilon,
    )[0]
    layer.beta.assign((25.0 / d_point).astype("float32"))
    phi_point = keras.ops.convert_to_numpy(layer.activations(point))[0]
    assert np.float16(np.exp(-25.0)) == 0
    np.testing.assert_allclose(phi_point, np.exp(-25.0), rtol=1e-3)


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_few_fit_steps_stay_finite(policy):
    from keras_rbf.layers import RBFMapping, rbf_block

    compute = keras.DTypePolicy(policy).compute_dtype
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = rbf_block(x, normalize=True, name="map_block")  # RBF on a 2D feature map
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = rbf_block(x, name="vec_block")
    logits = keras.layers.Dense(3, dtype="float32")(x)  # float32 logits for the loss
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.RandomState(1)
    data = rng.uniform(size=(32, 8, 8, 2)).astype("float32") * 4.0
    labels = rng.randint(0, 3, size=32)
    rbf_layers = [l for l in model.layers if isinstance(l, RBFMapping)]
    assert len(rbf_layers) == 2 and all(l.compute_dtype == compute for l in rbf_layers)
    before = [keras.ops.convert_to_numpy(l.centers).copy() for l in rbf_layers]
    history = model.fit(data, labels, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)
    moved = [
        np.abs(keras.ops.convert_to_numpy(l.centers) - b).max() for l, b in zip(rbf_layers, before)
    ]
    assert min(moved) > 1e-4, f"RBF centers did not train under {policy}: {moved}"
    assert all(l.centers.dtype == "float32" for l in rbf_layers)
