"""`keras_rbf.models.build_inception_resnet_v2`: keras.applications layer names, RBF
placement, weight transfer."""

import keras
import numpy as np
import pytest

from keras_rbf.layers import RBFMapping
from keras_rbf.models import build_inception_resnet_v2
from keras_rbf.models.inception_resnet_v2 import RBF_PLACEMENTS, transfer_weights

SMALL = dict(input_shape=(75, 75, 1), stage_blocks=(1, 1, 1))
# Blocks on 1088/1536/2080 channels factor a K x K Psi per call (seconds on 2 CPU cores),
# so the tests that run the network keep to the stem and block35 positions.
CHEAP = ("stem", "block35")


def _signature(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]


@pytest.mark.slow  # ~200 layers: the SavedModel trace and the fresh process take > 30 s
def test_inception_resnet_v2_model_harness(run_model_test):
    kwargs = dict(
        input_shape=(75, 75, 3),
        num_classes=3,
        stage_blocks=(1, 1, 1),
        rbf=True,
        rbf_placement=CHEAP,
    )
    run_model_test(build_inception_resnet_v2, kwargs, (75, 75, 3), (3,))


def test_plain_matches_keras_applications_layer_names_and_shapes():
    keras.backend.clear_session()  # keras.applications names its layers from session counters
    ref = keras.applications.InceptionResNetV2(
        weights=None, input_shape=(75, 75, 1), classes=2, classifier_activation=None
    )
    ours = build_inception_resnet_v2((75, 75, 1), num_classes=2, input_rescaling=False)
    assert _signature(ours) == _signature(ref)
    assert ours.count_params() == ref.count_params()


def test_rbf_placement_and_widths():
    plain = build_inception_resnet_v2(**SMALL)
    full = build_inception_resnet_v2(**SMALL, rbf=True)
    rbf = [layer for layer in full.layers if isinstance(layer, RBFMapping)]
    assert [layer.name for layer in rbf] == [f"rbf_{p}_rbf" for p in RBF_PLACEMENTS]
    # Block widths K of the stem and the three stages and the pooled head features.
    assert [layer.input_dim for layer in rbf] == [192, 320, 1088, 2080, 1536]
    assert [layer.centers.shape[0] for layer in rbf] == [128, 128, 128, 128, 128]
    assert [layer.kernel.shape[1] for layer in rbf] == [64, 64, 64, 64, 64]
    # Stage widths are unchanged (max-pool branches keep the plain features).
    for name in ("mixed_5b", "mixed_6a", "mixed_7a"):
        assert full.get_layer(name).output.shape == plain.get_layer(name).output.shape
    assert full.get_layer("input_rescaling") is not None
    part = build_inception_resnet_v2(
        **SMALL, rbf=True, rbf_placement=("head",), rbf_kwargs={"num_centers": 16, "units": 8}
    )
    (only,) = [layer for layer in part.layers if isinstance(layer, RBFMapping)]
    assert only.input_dim == 1536 and only.kernel.shape == (16, 8)
    assert part.get_layer("predictions").kernel.shape == (1536 + 8, 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 75"):
        build_inception_resnet_v2((64, 64, 1))
    with pytest.raises(ValueError, match="rbf_placement"):
        build_inception_resnet_v2(**SMALL, rbf=True, rbf_placement=("nowhere",))
    with pytest.raises(ValueError, match="stage_blocks"):
        build_inception_resnet_v2((75, 75, 1), stage_blocks=(1, 0, 1))
    with pytest.raises(ValueError, match="fully known"):
        build_inception_resnet_v2((None, 75, 1))


def test_transfer_weights_adapts_grayscale_and_rbf_widened_convs():
    source = build_inception_resnet_v2((75, 75, 3), stage_blocks=(1, 1, 1), input_rescaling=False)
    target = build_inception_resnet_v2(**SMALL, rbf=True, rbf_placement=CHEAP)
    report = transfer_weights(source, target, skip=("predictions",))
    # First conv: RGB kernel summed over its input channels for the grayscale model.
    k_src = source.get_layer("conv2d").kernel.numpy()
    np.testing.assert_allclose(
        target.get_layer("conv2d").kernel.numpy(), k_src.sum(axis=2, keepdims=True), rtol=1e-6
    )
    # A conv after the stem RBF block sees 192 + 64 channels: the first 192 are copied.
    first_5b = "conv2d_5"
    w_src = source.get_layer(first_5b).kernel.numpy()
    w_dst = target.get_layer(first_5b).kernel.numpy()
    assert w_dst.shape[2] == w_src.shape[2] + 64
    np.testing.assert_array_equal(w_dst[:, :, :192], w_src)
    assert {"conv2d", first_5b} <= set(report["adapted"])
    assert "rbf_stem_rbf" in report["skipped"] and "predictions" in report["skipped"]
    np.testing.assert_array_equal(
        target.get_layer("block17_1_conv").kernel.numpy(),
        source.get_layer("block17_1_conv").kernel.numpy(),
    )
