"""Model builders, one module per family (keras-hub style).

Import the family's module (`keras_rbf.models.cnn`, ...) for its builder; `build_cnn`
is re-exported here because every example uses it.
"""

from keras_rbf.models.cnn import build_cnn

__all__ = ["build_cnn"]
