"""Every family builder takes the shared arguments and they mean the same thing in each.

`build_<family>(input_shape, num_classes, *, rbf=False, rbf_kwargs=None,
rbf_normalize=True, classifier_activation=None, name=None, ...)`.
"""

import inspect

import keras
import numpy as np
import pytest

from keras_rbf.layers import RBFMapping
from keras_rbf.models import BUILDERS

# family -> (small family-specific arguments, input shape, output shape of one example)
SMALL = {
    "cnn": ({"conv_filters": (4, 8, 8)}, (28, 28, 1), (3,)),
    "unet": ({"encoder_depth": 1, "encoder_filters": 2}, (8, 8, 2), (8, 8, 3)),
    "vnet": (
        {"encoder_depth": 1, "encoder_filters": 2, "stage_kernel_size": 3},
        (8, 8, 2),
        (8, 8, 3),
    ),
    "inception_resnet_v2": (
        {"stage_blocks": (1, 1, 1), "rbf_placement": ("stem", "head")},
        (75, 75, 1),
        (3,),
    ),
}
SHARED = [
    ("rbf", False),
    ("rbf_kwargs", None),
    ("rbf_normalize", True),
    ("classifier_activation", None),
    ("name", None),
]


def test_every_family_is_covered():
    assert set(SMALL) == set(BUILDERS)


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_signature(family):
    params = list(inspect.signature(BUILDERS[family]).parameters.values())
    assert [p.name for p in params[:2]] == ["input_shape", "num_classes"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params[:2])
    assert [(p.name, p.default) for p in params[2:7]] == SHARED
    assert all(p.kind is p.KEYWORD_ONLY for p in params[2:])


def _rbf_and_norm_layers(model):
    rbf = [layer for layer in model.layers if isinstance(layer, RBFMapping)]
    norm = [layer for layer in model.layers if isinstance(layer, keras.layers.LayerNormalization)]
    return rbf, norm


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_shared_arguments(family):
    extra, input_shape, output_shape = SMALL[family]
    build = BUILDERS[family]
    x = np.random.RandomState(0).uniform(size=(2, *input_shape)).astype("float32")

    def make(**kwargs):
        model = build(input_shape, 3, **extra, **kwargs)
        out = keras.ops.convert_to_numpy(model(x, training=False))
        assert out.shape == (2, *output_shape) and np.all(np.isfinite(out))
        return model, out

    plain, _ = make()
    assert plain.name == family and _rbf_and_norm_layers(plain) == ([], [])
    prop, _ = make(rbf=True, rbf_kwargs={"learn_beta": False, "epsilon": 0.5})
    rbf, norm = _rbf_and_norm_layers(prop)
    assert prop.name == f"{family}_rbf" and rbf and len(norm) == len(rbf)
    assert all(not layer.learn_beta and layer.epsilon == 0.5 for layer in rbf)
    # Each RBF branch sees its block's LayerNormalization (named `<block>_norm`).
    assert {layer.name.replace("_rbf", "_norm") for layer in rbf} == {n.name for n in norm}
    raw, _ = make(rbf=True, rbf_normalize=False)
    raw_rbf, raw_norm = _rbf_and_norm_layers(raw)
    assert len(raw_rbf) == len(rbf) and raw_norm == []

    # Same weights with and without the (weightless) normalization, as saved files need.
    def shapes(model):
        return {w.path: tuple(w.shape) for w in model.weights}

    assert shapes(raw) == shapes(prop)
    soft, probs = make(classifier_activation="softmax", name="custom")
    assert soft.name == "custom"
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(probs >= 0)


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_shared_arguments_are_checked(family):
    extra, input_shape, _ = SMALL[family]
    build = BUILDERS[family]
    with pytest.raises(ValueError, match="num_classes"):
        build(input_shape, 0, **extra)
    with pytest.raises(ValueError, match="rbf_kwargs"):
        build(input_shape, 2, rbf=True, rbf_kwargs={"normalize": False}, **extra)
    with pytest.raises(ValueError, match="rbf_kwargs"):
        build(input_shape, 2, rbf=True, rbf_kwargs=[("units", 3)], **extra)
    with pytest.raises(ValueError, match="input_shape"):
        build(input_shape[1:], 2, **extra)
    with pytest.raises(TypeError):
        build(input_shape, 2, True)  # the shared options are keyword-only
