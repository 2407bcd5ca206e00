"""`keras_rbf.models.build_cnn`: the paper's 3-layer MNIST CNN (ORIG and PROP)."""

import pytest

from keras_rbf.layers import RBFMapping
from keras_rbf.models import build_cnn

SMALL = dict(input_shape=(28, 28, 1), num_classes=10, conv_filters=(4, 8, 8))


def test_cnn_model_harness(run_model_test):
    # With RBF blocks: every layer of the plain model and the RBF ones (the plain
    # variants are built and run by tests/models/test_shared_arguments.py).
    run_model_test(build_cnn, {**SMALL, "rbf": True}, (28, 28, 1), (10,))


def test_cnn_has_one_rbf_block_per_conv_layer_on_its_channels():
    model = build_cnn(**SMALL, rbf=True, rbf_kwargs={"units": 3})
    rbf = [layer for layer in model.layers if isinstance(layer, RBFMapping)]
    assert [layer.name for layer in rbf] == ["block1_rbf", "block2_rbf", "block3_rbf"]
    assert [layer.input_dim for layer in rbf] == [4, 8, 8]
    # Fig. 2: the next layer sees the conv features and the 3 RBF outputs side by side.
    assert model.get_layer("conv2").kernel.shape[2] == 4 + 3


def test_cnn_rejects_bad_filters():
    with pytest.raises(ValueError, match="conv_filters"):
        build_cnn(conv_filters=(4, 8))
    with pytest.raises(ValueError, match="conv_filters"):
        build_cnn(conv_filters=(4, 0, 8))
