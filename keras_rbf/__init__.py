"""keras-rbf: the kernelized manifold mapping of Taghanaki et al. (CVPR 2019) for Keras 3.

`RBFMapping` is the paper's radial-basis mapping layer (Eq. 2-5) and `rbf_block` its
Fig. 2 block; `keras_rbf.zoo` loads the published models by name.
"""

from keras_rbf.layers import MinValue, PsiIdentity, RBFMapping, live_fraction, rbf_block
from keras_rbf import models  # noqa: E402,F401 - registers every family's custom layers

__version__ = "0.1.0"

__all__ = ["RBFMapping", "rbf_block", "MinValue", "PsiIdentity", "live_fraction", "__version__"]
