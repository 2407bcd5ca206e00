"""RBFMapping's weight table (`layers.WEIGHTS`), its beta constraint and its two Psi^-1 routes.

`WEIGHTS` drives `__init__`, `build` and `get_config`; these tests hold the three to it,
check that configs written with the former `beta_constraint="default"` sentinel still
load, and that `distances()` (through `squared_distances`) and `call()` (through
`_weight_terms`) compute the same Eq. 3 distances.
"""

import json
import zipfile

import keras
import numpy as np
import pytest

from keras_rbf.layers import WEIGHTS, MinValue, RBFMapping

KINDS = ("initializer", "regularizer", "constraint")


def test_build_creates_the_tables_weights_with_their_shapes_and_switches():
    layer = RBFMapping(units=3, num_centers=4, learn_psi=False, learn_beta=False)
    layer.build((None, 5))
    assert sorted(w.name for w in layer.weights) == sorted(spec.name for spec in WEIGHTS)
    shapes = {w.name: tuple(w.shape) for w in layer.weights}
    assert shapes == {
        "centers": (4, 5),
        "psi_factor": (5, 5),
        "beta": (4,),
        "kernel": (4, 3),
        "bias": (3,),
    }
    assert [w.name for w in layer.trainable_weights] == ["centers", "kernel", "bias"]
    no_bias = RBFMapping(use_bias=False)
    no_bias.build((None, 5))
    assert no_bias.bias is None and "bias" not in [w.name for w in no_bias.weights]


def test_every_weight_option_is_an_argument_an_attribute_and_a_config_key():
    config = RBFMapping().get_config()
    for spec in WEIGHTS:
        for kind in KINDS:
            arg = f"{spec.name}_{kind}"
            assert arg in config, arg
            layer = RBFMapping(**{arg: None})
            assert hasattr(layer, arg)


def test_beta_constraint_defaults_to_positive_widths_and_none_means_none():
    assert isinstance(RBFMapping().beta_constraint, MinValue)
    assert RBFMapping().beta_constraint.min_value == 1e-6
    assert RBFMapping(beta_constraint=None).beta_constraint is None
    assert RBFMapping(beta_constraint=None).get_config()["beta_constraint"] is None


def test_the_default_sentinel_string_is_no_longer_an_argument():
    with pytest.raises(ValueError, match="beta_constraint"):
        RBFMapping(beta_constraint="default")


def test_a_config_saved_with_the_default_sentinel_still_loads():
    config = RBFMapping(units=2, name="old").get_config()
    config["beta_constraint"] = "default"  # what the layer's default was called before
    layer = RBFMapping.from_config(config)
    assert isinstance(layer.beta_constraint, MinValue)
    assert layer.get_config() == RBFMapping(units=2, name="old").get_config()


def _with_default_sentinel(layer_config):
    if isinstance(layer_config, dict):
        if layer_config.get("class_name") == "RBFMapping":
            layer_config["config"]["beta_constraint"] = "default"
        for value in layer_config.values():
            _with_default_sentinel(value)
    elif isinstance(layer_config, list):
        for value in layer_config:
            _with_default_sentinel(value)


def test_a_keras_file_saved_with_the_default_sentinel_still_loads(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, RBFMapping(units=2, name="rbf")(inputs))
    path, old = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                _with_default_sentinel(config)
                assert '"beta_constraint": "default"' in json.dumps(config)
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    loaded = keras.saving.load_model(old, safe_mode=True)
    assert isinstance(loaded.get_layer("rbf").beta_constraint, MinValue)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _call_route_distances(layer, x):
    """Eq. 3 distances (over K under `scale_by_dim`, as `distances()` gives them) the
    way `call()` computes them: `-beta D = [f, f^T Psi^-1 f, 1] @ weights`."""
    dtype = layer._math_dtype()
    psi_inv, weights = (keras.ops.convert_to_numpy(t) for t in layer._weight_terms(dtype))
    f = np.asarray(x, dtype).reshape(-1, layer.input_dim)
    q = np.sum(f * (f @ psi_inv), axis=-1, keepdims=True)
    augmented = np.concatenate([f, q, np.ones_like(q)], axis=-1)
    return -(augmented @ weights) / keras.ops.convert_to_numpy(layer.beta)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale_by_dim", [False, True])
def test_distances_and_call_agree_on_psi_inverse(dtype, scale_by_dim):
    """`distances()` whitens with `T = L^{-1}` (z = f T^T), `call()` multiplies by
    `Psi^{-1} = T^T T`; both must give the same D (to 1e-6 of its scale)."""
    rng = np.random.default_rng(21)
    k, p = 6, 5
    layer = RBFMapping(num_centers=p, epsilon=0.05, scale_by_dim=scale_by_dim, dtype=dtype)
    layer.build((None, 3, k))
    layer.psi_factor.assign(np.eye(k) + 0.3 * rng.normal(size=(k, k)))
    layer.centers.assign(rng.normal(size=(p, k)))
    layer.beta.assign(rng.uniform(0.05, 0.5, p))
    x = rng.normal(size=(4, 3, k)).astype(dtype)  # random and non-zero
    via_distances = keras.ops.convert_to_numpy(layer.distances(x)).reshape(-1, p)
    via_call = _call_route_distances(layer, x)
    assert via_distances.min() > 0.1  # away from the clamp at 0
    np.testing.assert_allclose(via_call, via_distances, rtol=1e-6, atol=1e-6 * via_distances.max())
