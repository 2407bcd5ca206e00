"""keras-rbf: the kernelized manifold mapping of Taghanaki et al. (CVPR 2019) for Keras 3.

`RBFMapping` is the paper's radial-basis mapping layer (Eq. 2-5) and `rbf_block` its
Fig. 2 block. `import keras_rbf` also gives `keras_rbf.zoo` (published models by name),
`keras_rbf.datasets`, `keras_rbf.attacks` and `keras_rbf.models`, and registers every
custom layer, so that `.keras` files of these models load after it.
"""

import os as _os
import sys as _sys

from keras_rbf._quiet import quiet_tensorflow_startup as _quiet

# The `keras-rbf` command keeps TensorFlow's C++ start-up lines (oneDNN, CUDA probes) off
# the user's terminal; imported as a library, the package leaves logging alone.
with _quiet(_os.path.basename(_sys.argv[0] if _sys.argv else "") == "keras-rbf"):
    from keras_rbf import attacks, datasets, models, zoo  # models registers custom layers
    from keras_rbf.layers import MinValue, PsiIdentity, RBFMapping, live_fraction, rbf_block

__version__ = "0.2.0"

__all__ = [
    "RBFMapping",
    "rbf_block",
    "MinValue",
    "PsiIdentity",
    "live_fraction",
    "attacks",
    "datasets",
    "models",
    "zoo",
    "__version__",
]
