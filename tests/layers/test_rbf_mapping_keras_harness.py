"""`RBFMapping` through Keras' own layer test, `keras.src.testing.TestCase.run_layer_test`.

It checks what every Keras layer must do: config round trip (`get_config` /
`from_config`), output shape and dtype, symbolic call, the number of trainable and
non-trainable weights and of losses, a short training run (`fit`), and a forward pass
under a mixed-precision policy. The numbers of the layer are checked against a float64
NumPy reference in tests/layers/test_rbf_mapping.py.

`keras.src.testing` is a private API: where a Keras release moves or changes it, this
module skips with the reason instead of failing.
"""

import keras
import numpy as np
import pytest

try:
    from keras.src.testing import TestCase as KerasTestCase
except ImportError as err:  # private API: moved or removed in this Keras release
    pytest.skip(
        f"keras.src.testing.TestCase is not importable in Keras {keras.__version__} ({err})",
        allow_module_level=True,
    )
if not hasattr(KerasTestCase, "run_layer_test"):
    pytest.skip(
        f"keras.src.testing.TestCase has no run_layer_test in Keras {keras.__version__}",
        allow_module_level=True,
    )

from keras_rbf.layers import RBFMapping  # noqa: E402 - after the guard on purpose


class RBFMappingKerasHarnessTest(KerasTestCase):
    def test_dense_features(self):
        self.run_layer_test(
            RBFMapping,
            init_kwargs={"units": 3, "num_centers": 5},
            input_shape=(2, 4),
            expected_output_shape=(2, 3),
            expected_num_trainable_weights=5,  # centers, psi_factor, beta, kernel, bias
            expected_num_non_trainable_weights=0,
            expected_num_losses=0,
            supports_masking=False,
        )

    def test_2d_feature_map_scaled_by_dim(self):
        self.run_layer_test(
            RBFMapping,
            init_kwargs={"units": 2, "num_centers": 3, "scale_by_dim": True, "epsilon": 0.25},
            input_shape=(2, 5, 5, 4),
            expected_output_shape=(2, 5, 5, 2),
            expected_num_trainable_weights=5,
            expected_num_non_trainable_weights=0,
            supports_masking=False,
        )

    def test_frozen_psi_and_beta_and_no_bias(self):
        # Table 6's ablation: Psi and beta not learned stay non-trainable weights.
        self.run_layer_test(
            RBFMapping,
            init_kwargs={"learn_psi": False, "learn_beta": False, "use_bias": False},
            input_shape=(3, 6),
            expected_output_shape=(3, 6),
            expected_num_trainable_weights=2,  # centers, kernel
            expected_num_non_trainable_weights=2,  # psi_factor, beta
            supports_masking=False,
        )

    def test_regularizers_add_losses(self):
        self.run_layer_test(
            RBFMapping,
            init_kwargs={"units": 2, "kernel_regularizer": "l2", "centers_regularizer": "l1"},
            input_data=np.random.RandomState(0).normal(size=(4, 3)).astype("float32"),
            expected_output_shape=(4, 2),
            expected_num_losses=2,
            supports_masking=False,
        )
