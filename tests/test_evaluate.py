"""keras_rbf.evaluate against independent references (NumPy, scipy, the layer's float64 math)."""

import keras
import numpy as np
import pytest

from keras_rbf import evaluate
from keras_rbf.layers import RBFMapping


@pytest.fixture(scope="module")
def dense_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(5, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(4)(h))


def test_logits_match_one_call_for_any_batch_size(dense_model):
    x = np.random.RandomState(0).randn(23, 6).astype("float32")
    ref = keras.ops.convert_to_numpy(dense_model(x))
    for bs in (1, 5, 23, 100):
        np.testing.assert_allclose(evaluate.logits(dense_model, x, bs), ref, rtol=1e-5, atol=1e-6)
    # any callable works too (a squeezer in front of a model, say)
    np.testing.assert_allclose(
        evaluate.logits(lambda t: dense_model(t) * 2.0, x, 7), 2 * ref, rtol=1e-5, atol=1e-6
    )


def test_accuracy_correct_and_labels(dense_model):
    rng = np.random.RandomState(1)
    x = rng.randn(40, 6).astype("float32")
    pred = np.argmax(keras.ops.convert_to_numpy(dense_model(x)), -1)
    y = np.where(rng.rand(40) < 0.5, pred, (pred + 1) % 4)
    assert np.array_equal(evaluate.predict_labels(dense_model, x, 9), pred)
    assert np.array_equal(evaluate.correct(dense_model, x, y, 9), pred == y)
    assert evaluate.accuracy(dense_model, x, y, 9) == pytest.approx(np.mean(pred == y))


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (3, 17), (950, 1000), (1, 1)])
def test_wilson_interval_against_statsmodels_formula(k, n):
    # Independent reference: the closed form with scipy's normal quantile, as
    # statsmodels' proportion_confint(method="wilson") computes it.
    from scipy.stats import norm

    z = norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    low, high = evaluate.wilson_interval(k, n, z=z)
    assert low == pytest.approx(max(0, centre - half))
    assert high == pytest.approx(min(1, centre + half))
    assert 0.0 <= low <= p <= high <= 1.0


def test_wilson_interval_edges():
    assert evaluate.wilson_interval(0, 0) == (0.0, 1.0)
    assert evaluate.wilson_interval(0, 1000)[1] < 0.005  # 0/1000 still leaves < 0.4 %
    with pytest.raises(ValueError):
        evaluate.wilson_interval(5, 3)


def test_rbf_live_fractions_against_numpy_reference():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((8,))
    h = keras.layers.Dense(6)(inputs)
    layer = RBFMapping(units=6, num_centers=5, name="rbf")
    model = keras.Model(inputs, layer(h))
    x = np.random.RandomState(3).randn(37, 8).astype("float32") * 2.0
    feats = keras.ops.convert_to_numpy(keras.Model(inputs, h)(x)).astype(np.float64)
    # float64 reference of phi = exp(-beta (f - c)^T Psi^-1 (f - c)) from the layer's variables
    psi = keras.ops.convert_to_numpy(layer.psi).astype(np.float64)
    centers = keras.ops.convert_to_numpy(layer.centers).astype(np.float64)
    beta = keras.ops.convert_to_numpy(layer.beta).astype(np.float64)
    diff = feats[:, None, :] - centers[None]
    dist = np.einsum("npk,kl,npl->np", diff, np.linalg.inv(psi), diff)
    phi_ref = np.exp(-beta[None] * dist)
    live_ref = np.mean((phi_ref > 1e-3) & (phi_ref < 0.999))
    got = evaluate.rbf_live_fractions(model, x, batch_size=10)
    assert set(got) == {"rbf"}
    # float32 vs float64 may flip an activation sitting on a band edge: 1 in 185 at most
    assert got["rbf"] == pytest.approx(live_ref, abs=1.5 / phi_ref.size)
    assert 0.0 < got["rbf"] < 1.0  # a non-trivial case: some live, some not


def test_sample_indices_are_one_fixed_permutation_with_nested_prefixes():
    full = evaluate.sample_indices(10_000)
    assert sorted(full.tolist()) == list(range(10_000))  # every image, once
    first = evaluate.sample_indices(10_000, 1000)
    np.testing.assert_array_equal(first, full[:1000])  # n = 1,000 is a prefix of all
    np.testing.assert_array_equal(evaluate.sample_indices(10_000, 100), first[:100])
    assert not np.array_equal(np.sort(first), np.arange(1000))  # not the first 1,000
    # both halves of MNIST's ordered test set are in the sample, about equally
    assert 400 < int((first < 5000).sum()) < 600


def test_test_split_is_the_loaders_test_split(monkeypatch):
    from keras_rbf import datasets

    pair = (np.zeros((2, 1)), np.arange(2))
    monkeypatch.setattr(datasets, "load", lambda name, **kw: {"train": None, "test": pair})
    assert evaluate.load_test_split("x") is pair


def test_rbf_branch_ablation_against_a_numpy_reference():
    """Replacing the branch by its mean: the returned accuracy equals the NumPy model with
    the branch's output fixed at its mean, and the layer's weights are restored after."""
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    inputs = keras.Input((3,))
    rbf = RBFMapping(units=4, num_centers=5, name="r")
    mapped = rbf(inputs)
    dense = keras.layers.Dense(3, name="head")
    model = keras.Model(inputs, dense(keras.layers.Concatenate()([inputs, mapped])))
    rbf.centers.assign(rng.normal(size=(5, 3)).astype("float32"))
    rbf.kernel.assign(3 * rng.normal(size=(5, 4)).astype("float32"))
    dense.kernel.assign(rng.normal(size=(7, 3)).astype("float32"))
    x = rng.normal(size=(200, 3)).astype("float32")
    y = rng.integers(0, 3, 200)
    before = [w.numpy().copy() for w in rbf.weights]

    out = evaluate.rbf_branch_ablation(model, x, y, batch_size=64)

    g = keras.ops.convert_to_numpy(rbf(x)).astype("float64")
    w, b = dense.kernel.numpy().astype("float64"), dense.bias.numpy().astype("float64")
    full = np.concatenate([x, g], axis=1) @ w + b
    fixed = np.concatenate([x, np.broadcast_to(g.mean(0), g.shape)], axis=1) @ w + b
    clean, ablated = np.mean(full.argmax(1) == y), np.mean(fixed.argmax(1) == y)
    assert out["clean"] == pytest.approx(clean)
    assert out["r"]["accuracy"] == pytest.approx(ablated)
    assert out["r"]["drop"] == pytest.approx(clean - ablated)
    assert clean != ablated  # the head uses the branch, so the test can fail
    for w_before, w_after in zip(before, rbf.weights):
        np.testing.assert_array_equal(w_before, w_after.numpy())
