"""`keras_rbf.models.build_unet`: 2D U-Net, plain and with an RBF block per conv stage."""

import numpy as np
import pytest

from keras_rbf.layers import RBFMapping
from keras_rbf.models import build_unet

SMALL = dict(input_shape=(16, 16, 3), num_classes=3, encoder_depth=2, encoder_filters=4)


def test_unet_model_harness(run_model_test):
    run_model_test(build_unet, {**SMALL, "rbf": True}, (16, 16, 3), (16, 16, 3))


def test_unet_has_one_rbf_block_per_stage_concatenated():
    plain, rbf = build_unet(**SMALL), build_unet(**SMALL, rbf=True)
    layers = [layer for layer in rbf.layers if isinstance(layer, RBFMapping)]
    # encoder_depth encoder stages + bottleneck + encoder_depth decoder stages.
    assert len(layers) == 2 * 2 + 1
    # Each RBF block maps a stage's K channels to K and is concatenated (Fig. 2).
    for layer in layers:
        concat = rbf.get_layer(layer.name.replace("_rbf", "_concat"))
        assert concat.output.shape[-1] == 2 * layer.input.shape[-1]
    assert rbf.count_params() > plain.count_params()


def test_unet_accepts_free_spatial_sizes():
    model = build_unet((None, None, 3), encoder_depth=1, encoder_filters=2)
    x = np.random.RandomState(0).rand(1, 8, 12, 3).astype("float32")
    assert model(x).shape == (1, 8, 12, 2)


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        build_unet((30, 30, 3), encoder_depth=2)
    with pytest.raises(ValueError, match="encoder_depth"):
        build_unet(encoder_depth=0)
    with pytest.raises(ValueError, match="encoder_filters"):
        build_unet(encoder_filters=2.5)
    with pytest.raises(ValueError, match="input_shape"):
        build_unet((16, 16, 16, 3))
