"""`keras_rbf.models.build_vnet`: 2D and 3D V-Net, plain and with RBF blocks."""

import numpy as np
import pytest

from keras_rbf.layers import RBFMapping
from keras_rbf.models import build_vnet

SMALL_2D = dict(
    input_shape=(16, 16, 1), num_classes=2, encoder_depth=2, encoder_filters=4, stage_kernel_size=3
)
SMALL_3D = dict(
    input_shape=(8, 8, 8, 1), num_classes=2, encoder_depth=1, encoder_filters=4, stage_kernel_size=3
)


def test_vnet_2d_model_harness(run_model_test):
    run_model_test(build_vnet, {**SMALL_2D, "rbf": True}, (16, 16, 1), (16, 16, 2))


def test_vnet_3d_has_prelu_strided_down_and_transposed_up():
    model = build_vnet(**SMALL_3D, rbf=True)
    x = np.random.RandomState(0).rand(1, 8, 8, 8, 1).astype("float32")
    assert model(x).shape == (1, 8, 8, 8, 2)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"PReLU", "Conv3D", "Conv3DTranspose", "Add", "RBFMapping"} <= kinds
    assert model.get_layer("enc0_down").strides == (2, 2, 2)
    assert model.name == "vnet_rbf3d"


def test_vnet_rbf_kwargs_reach_every_rbf_layer():
    model = build_vnet(**SMALL_2D, rbf=True, rbf_kwargs={"learn_psi": False, "learn_beta": False})
    layers = [layer for layer in model.layers if isinstance(layer, RBFMapping)]
    assert len(layers) == 2 * 2 + 1
    for layer in layers:
        assert not layer.learn_psi and not layer.learn_beta
        assert not layer.psi_factor.trainable and not layer.beta.trainable


def test_vnet_stage_convs():
    model = build_vnet(**{**SMALL_2D, "stage_convs": (2, 1, 3)})
    assert model.get_layer("enc0_conv2") and model.get_layer("bottleneck_conv3")
    assert model.get_layer("dec0_conv2") and model.get_layer("dec1_conv1")
    with pytest.raises(ValueError):
        model.get_layer("dec1_conv2")
    x = np.random.RandomState(0).rand(1, 16, 16, 1).astype("float32")
    assert model(x).shape == (1, 16, 16, 2)


def test_vnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stage_convs"):
        build_vnet((16, 16, 3), encoder_depth=2, stage_convs=(1, 2))
    with pytest.raises(ValueError, match="input_shape"):
        build_vnet((16, 3))
    with pytest.raises(ValueError, match="stage_kernel_size"):
        build_vnet((16, 16, 3), stage_kernel_size=0)
