"""Model builders, one module per family (keras-hub style).

Importing this package imports every family, so that their registered custom layers
(e.g. Inception-ResNet-v2's `ResidualScale`) are known to `.keras` loading after a
plain `import keras_rbf`.
"""

from keras_rbf.models import inception_resnet_v2, unet, vnet  # noqa: F401 - registration
from keras_rbf.models.cnn import build_cnn

__all__ = ["build_cnn", "inception_resnet_v2", "unet", "vnet"]
