"""RBFMapping against an independent float64 NumPy reference of the paper's Eq. 2-5."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_rbf import RBFMapping, live_fraction, rbf_block
from keras_rbf.layers import squared_distances

RNG = np.random.default_rng(1234)


# ---------------------------------------------------------------- NumPy reference
def reference(f, centers, a, eps, beta, kernel, bias, scale_by_dim=False):
    """Eq. 2-5 in float64 with an explicit inverse and explicit differences.

    Returns (g, phi, D, dg/df contracted with upstream `u`-free Jacobian helper).
    """
    f = np.asarray(f, np.float64)
    k = f.shape[-1]
    flat = f.reshape(-1, k)
    psi = a @ a.T + eps * np.eye(k)
    psi_inv = np.linalg.inv(psi)
    diff = flat[:, None, :] - centers[None, :, :]  # (N, P, K)
    dist = np.einsum("npk,kl,npl->np", diff, psi_inv, diff)
    scale = 1.0 / k if scale_by_dim else 1.0
    phi = np.exp(-beta * dist * scale)
    g = phi @ kernel + bias
    return g.reshape(f.shape[:-1] + (-1,)), phi, dist * scale, diff, psi_inv


def reference_input_grad(f, upstream, centers, a, eps, beta, kernel, bias, scale_by_dim=False):
    """d/df of sum(upstream * g): sum_k (kernel u)_k phi_k (-2 beta_k s) Psi^{-1} (f - c_k)."""
    k = f.shape[-1]
    _, phi, _, diff, psi_inv = reference(f, centers, a, eps, beta, kernel, bias, scale_by_dim)
    s = 1.0 / k if scale_by_dim else 1.0
    weight = (upstream.reshape(-1, kernel.shape[1]) @ kernel.T) * phi * (-2.0 * beta * s)
    grad = np.einsum("np,npk,kl->nl", weight, diff, psi_inv)
    return grad.reshape(f.shape)


def random_weights(k, p, units, rng):
    """Well-conditioned random weights: A near a scaled identity, centers near the data."""
    a = np.eye(k) * 0.9 + rng.normal(0, 0.15 / np.sqrt(k), (k, k))
    return dict(
        centers=rng.normal(0, 1, (p, k)),
        psi_factor=a,
        beta=rng.uniform(0.2, 1.0, p) / k,
        kernel=rng.normal(0, 1, (p, units)),
        bias=rng.normal(0, 1, units),
    )


def set_weights(layer, w):
    for name, value in w.items():
        getattr(layer, name).assign(value.astype(getattr(layer, name).dtype))


SHAPES = [(7, 5), (3, 6, 5, 4), (2, 3, 4, 6), (2, 3, 4, 3, 5), (4, 2, 8)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale_by_dim", [False, True])
def test_forward_and_input_gradient_match_float64_reference(shape, scale_by_dim):
    rng = np.random.default_rng(hash((shape, scale_by_dim)) % 2**32)
    k = shape[-1]
    p, units = int(rng.integers(2, 9)), int(rng.integers(1, 7))
    w = random_weights(k, p, units, rng)
    x = rng.normal(0, 1, shape)
    layer = RBFMapping(units=units, num_centers=p, epsilon=1e-2, scale_by_dim=scale_by_dim)
    layer.build((None,) + shape[1:])
    set_weights(layer, w)

    import tensorflow as tf

    xt = tf.constant(x, tf.float32)
    upstream = rng.normal(0, 1, shape[:-1] + (units,))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = layer(xt)
        loss = tf.reduce_sum(out * tf.constant(upstream, tf.float32))
    grad = tape.gradient(loss, xt).numpy()

    g_ref = reference(
        x,
        eps=1e-2,
        scale_by_dim=scale_by_dim,
        a=w["psi_factor"],
        **{n: w[n] for n in ("centers", "beta", "kernel", "bias")},
    )[0]
    grad_ref = reference_input_grad(
        x,
        upstream,
        w["centers"],
        w["psi_factor"],
        1e-2,
        w["beta"],
        w["kernel"],
        w["bias"],
        scale_by_dim,
    )
    assert out.shape == g_ref.shape
    np.testing.assert_allclose(out.numpy(), g_ref, rtol=1e-4, atol=1e-4 * np.abs(g_ref).max())
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-4, atol=1e-4 * np.abs(grad_ref).max())


def test_parameter_gradients_match_finite_differences_in_float64():
    """Every variable's gradient, float64 layer vs central differences of the reference."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    k, p, units = 4, 3, 2
    w = random_weights(k, p, units, rng)
    x = rng.normal(0, 1, (6, k))
    upstream = rng.normal(0, 1, (6, units))
    layer = RBFMapping(units=units, num_centers=p, epsilon=1e-2, dtype="float64")
    layer.build((None, k))
    set_weights(layer, w)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.constant(x)) * upstream)
    names = ["centers", "psi_factor", "beta", "kernel", "bias"]
    grads = tape.gradient(loss, [getattr(layer, n).value for n in names])

    def ref_loss(ws):
        return float(
            np.sum(
                reference(
                    x, ws["centers"], ws["psi_factor"], 1e-2, ws["beta"], ws["kernel"], ws["bias"]
                )[0]
                * upstream
            )
        )

    h = 1e-6
    for name, grad in zip(names, grads):
        numeric = np.zeros_like(w[name])
        for idx in np.ndindex(w[name].shape):
            plus = {n: v.copy() for n, v in w.items()}
            minus = {n: v.copy() for n, v in w.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            numeric[idx] = (ref_loss(plus) - ref_loss(minus)) / (2 * h)
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("n,k,p", [(50, 8, 5), (200, 16, 32)])
def test_expanded_and_broadcast_distances_agree(n, k, p):
    rng = np.random.default_rng(n)
    w = random_weights(k, p, 1, rng)
    f = rng.normal(0, 1, (n, k)).astype("float32")
    args = (w["centers"].astype("float32"), w["psi_factor"].astype("float32"), 1e-2)
    fast = keras.ops.convert_to_numpy(squared_distances(f, *args))
    naive = keras.ops.convert_to_numpy(squared_distances(f, *args, method="broadcast"))
    ref = reference(f, w["centers"], w["psi_factor"], 1e-2, w["beta"], w["kernel"], w["bias"])[2]
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-4 * ref.max())
    np.testing.assert_allclose(naive, ref, rtol=1e-4, atol=1e-4 * ref.max())
    assert fast.min() >= 0.0


def test_distance_is_zero_at_a_center_and_never_negative():
    rng = np.random.default_rng(3)
    w = random_weights(6, 4, 1, rng)
    f = np.concatenate([w["centers"], w["centers"] + 1e-4]).astype("float32")
    d = keras.ops.convert_to_numpy(
        squared_distances(
            f, w["centers"].astype("float32"), w["psi_factor"].astype("float32"), 1e-2
        )
    )
    assert d.min() >= 0.0
    assert np.all(np.diag(d[:4]) < 1e-3)


def test_default_activations_at_initialization_are_not_saturated():
    rng = np.random.default_rng(11)
    for k in (8, 64, 256):
        x = rng.normal(0, 1, (512, k)).astype("float32")  # standardized inputs
        for scale_by_dim in (False, True):
            layer = RBFMapping(scale_by_dim=scale_by_dim)
            layer.build((None, k))
            phi = keras.ops.convert_to_numpy(layer.activations(x))
            assert live_fraction(phi) > 0.99, (k, scale_by_dim)
            assert 0.2 < np.median(phi) < 0.6, (k, scale_by_dim, np.median(phi))


def test_default_psi_is_identity_and_learn_psi_false_keeps_it():
    rng = np.random.default_rng(5)
    inputs = keras.Input((6,))
    rbf = RBFMapping(units=4, learn_psi=False, learn_beta=False, name="rbf")
    model = keras.Model(inputs, keras.layers.Dense(2)(rbf(inputs)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rbf.psi), np.eye(6), atol=1e-6)
    beta0 = keras.ops.convert_to_numpy(rbf.beta).copy()
    centers0 = keras.ops.convert_to_numpy(rbf.centers).copy()
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(rng.normal(size=(64, 6)), rng.normal(size=(64, 2)), epochs=3, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rbf.psi), np.eye(6), atol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rbf.beta), beta0)
    assert not np.allclose(keras.ops.convert_to_numpy(rbf.centers), centers0)  # others train
    assert {v.name for v in rbf.trainable_weights} == {"centers", "kernel", "bias"}


def test_beta_stays_positive_under_a_push_to_negative():
    inputs = keras.Input((3,))
    rbf = RBFMapping(units=1, num_centers=2, learn_psi=False)
    model = keras.Model(inputs, rbf(inputs))
    model.compile(keras.optimizers.SGD(100.0), "mse")  # huge steps drive beta below 0
    x = np.random.default_rng(0).normal(size=(32, 3))
    model.fit(x, np.full((32, 1), 50.0), epochs=2, verbose=0)
    assert keras.ops.convert_to_numpy(rbf.beta).min() > 0.0


def test_tiny_model_with_rbf_blocks_trains_with_fit():
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    x = rng.normal(size=(256, 6, 6, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype("int64")
    inputs = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    h = rbf_block(h, normalize=True, name="b1", epsilon=0.25, scale_by_dim=True)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = rbf_block(h, name="b2", num_centers=6)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    loss = model.fit(x, y, batch_size=32, epochs=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(loss))
    assert loss[-1] < 0.7 * loss[0]


def test_adapt_places_centers_on_clusters_and_sets_width():
    rng = np.random.default_rng(2)
    means = rng.normal(0, 10, (3, 4))
    data = np.concatenate([m + rng.normal(0, 0.1, (200, 4)) for m in means])
    layer = RBFMapping(num_centers=3).adapt(data[None], seed=0)
    centers = keras.ops.convert_to_numpy(layer.centers)
    for m in means:
        assert np.min(np.linalg.norm(centers - m, axis=1)) < 0.1
    dist = keras.ops.convert_to_numpy(layer.distances(data))
    beta = keras.ops.convert_to_numpy(layer.beta)
    np.testing.assert_allclose(beta, 1.0 / (2.0 * np.median(dist)), rtol=1e-4)


def test_get_config_round_trip_rebuilds_an_equal_layer():
    layer = RBFMapping(
        units=3,
        num_centers=5,
        epsilon=0.1,
        learn_psi=False,
        scale_by_dim=True,
        kernel_regularizer="l2",
        name="r",
    )
    clone = RBFMapping.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_keras_file_round_trip_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(9)
    inputs = keras.Input((5, 5, 4))
    h = rbf_block(inputs, normalize=True, name="b", units=3, num_centers=6, scale_by_dim=True)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    x = rng.normal(size=(3, 5, 5, 4)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import json, numpy as np, keras
        import keras_rbf
        m = keras.saving.load_model({str(path)!r})
        print(json.dumps(m.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0).tolist()))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(loaded, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"units": 0}, "units"),
        ({"units": -3}, "units"),
        ({"num_centers": 0}, "num_centers"),
        ({"num_centers": 2.5}, "num_centers"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1e-3}, "epsilon"),
        ({"epsilon": 1.5}, "epsilon"),
    ],
)
def test_bad_arguments_raise_naming_the_layer_and_problem(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        RBFMapping(name="myrbf", **kwargs)
    assert "myrbf" in str(err.value)


def test_bad_input_shapes_raise_naming_the_layer():
    with pytest.raises(ValueError, match=r"myrbf.*rank"):
        RBFMapping(name="myrbf").build((5,))
    with pytest.raises(ValueError, match=r"myrbf.*channel"):
        RBFMapping(name="myrbf").build((None, None))
    with pytest.raises(ValueError, match="channels"):
        RBFMapping(name="myrbf").adapt(np.ones((10, 3)) * np.arange(3)).adapt(np.ones((10, 4)))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"units": True}, "units"),  # bool is an int subclass: once accepted as 1 unit
        ({"num_centers": np.True_}, "num_centers"),
        ({"epsilon": "x"}, "epsilon"),  # once a bare "could not convert string to float"
        ({"epsilon": None}, "epsilon"),
        ({"epsilon": True}, "epsilon"),
        ({"learn_psi": "no"}, "learn_psi"),  # once bool("no") = True, silently
        ({"use_bias": 0}, "use_bias"),
        ({"kernel_initializer": "nosuch"}, "kernel_initializer"),
        ({"beta_constraint": "nonneg"}, "beta_constraint"),
        ({"centers_regularizer": 3}, "centers_regularizer"),
    ],
)
def test_wrong_types_raise_one_line_naming_the_layer_and_argument(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        RBFMapping(name="myrbf", **kwargs)
    assert "myrbf" in str(err.value) and "\n" not in str(err.value)


def test_parameter_gradients_on_feature_maps_with_scale_by_dim_in_float64():
    """The hand-written gradient of `rbf_activations` on a rank-4 input, every variable."""
    import tensorflow as tf

    rng = np.random.default_rng(11)
    k, p, units, shape = 3, 4, 2, (2, 2, 3, 3)
    w = random_weights(k, p, units, rng)
    x = rng.normal(0, 1, shape)
    upstream = rng.normal(0, 1, shape[:-1] + (units,))
    layer = RBFMapping(units=units, num_centers=p, epsilon=1e-2, dtype="float64", scale_by_dim=True)
    layer.build((None,) + shape[1:])
    set_weights(layer, w)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * upstream)
    names = ["centers", "psi_factor", "beta", "kernel", "bias"]
    grads = tape.gradient(loss, [xt] + [getattr(layer, n).value for n in names])

    def ref_loss(ws, f=x):
        return float(
            np.sum(
                reference(
                    f,
                    ws["centers"],
                    ws["psi_factor"],
                    1e-2,
                    ws["beta"],
                    ws["kernel"],
                    ws["bias"],
                    scale_by_dim=True,
                )[0]
                * upstream
            )
        )

    h = 1e-6
    for name, grad in zip(["input"] + names, grads):
        base = x if name == "input" else w[name]
        numeric = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[idx] += h
            minus[idx] -= h
            if name == "input":
                numeric[idx] = (ref_loss(w, plus) - ref_loss(w, minus)) / (2 * h)
            else:
                numeric[idx] = (ref_loss({**w, name: plus}) - ref_loss({**w, name: minus})) / (
                    2 * h
                )
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_input_gradient_at_a_center_matches_the_reference():
    """At f = c_k the expansion can round -beta D above 0 (the clamp acts); the gradient
    there must still be Eq. 2's own derivative, as in the float64 reference."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    k, p, units = 8, 5, 3
    w = random_weights(k, p, units, rng)
    w["centers"] *= 3.0  # large norms: more cancellation in |z|^2 - 2 z.z_c + |z_c|^2
    x = np.concatenate([w["centers"][:3], rng.normal(0, 1, (2, k))]).astype("float32")
    upstream = rng.normal(0, 1, (5, units))
    layer = RBFMapping(units=units, num_centers=p, epsilon=1e-2)
    layer.build((None, k))
    set_weights(layer, w)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * upstream)
    grad = tape.gradient(loss, xt).numpy()
    ref = reference_input_grad(
        x.astype("float64"),
        upstream,
        w["centers"],
        w["psi_factor"],
        1e-2,
        w["beta"],
        w["kernel"],
        w["bias"],
    )
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, ref, rtol=1e-3, atol=1e-4 * np.abs(ref).max())
    phi = layer.activations(xt).numpy()
    assert np.all(phi <= 1.0) and np.all(phi > 0.0)
