"""Model builders, one module per family (keras-hub style), all with one signature.

Every family is built by
`build_<family>(input_shape, num_classes, *, rbf=False, rbf_kwargs=None,
rbf_normalize=True, classifier_activation=None, name=None, <family arguments>)`
(segmentation_models' pattern). The shared arguments mean the same everywhere:
`rbf` inserts the paper's Fig. 2 blocks, `rbf_kwargs` goes to every `RBFMapping`,
`rbf_normalize` gives each RBF branch layer-normalized features,
`classifier_activation` is the activation of the last layer (None: logits, what the
attacks need), `name` the model's name (default `<family>` or `<family>_rbf`).

Family arguments come after them, named `<part>_<quantity>` after the part of the
network they shape:

- `conv_filters` (CNN): channels of the three conv layers;
- `encoder_depth`, `encoder_filters` (U-Net, V-Net): down-sampling steps and the
  channels of the first encoder stage (doubled at each step);
- `stage_convs`, `stage_kernel_size` (V-Net): convolutions per stage and their kernel;
- `stage_blocks` (Inception-ResNet-v2): residual blocks per stage (A, B, C);
- `input_rescaling` (Inception-ResNet-v2): map [0, 1] inputs to [-1, 1] in the model;
- `rbf_placement` (Inception-ResNet-v2): where RBF blocks go.

Shared checks and the RBF insertion live in `keras_rbf.models._common`. Importing this
package imports every family, so that their registered custom layers (e.g.
Inception-ResNet-v2's `ResidualScale`) are known to `.keras` loading after a plain
`import keras_rbf`.
"""

from keras_rbf.models.cnn import build_cnn
from keras_rbf.models.inception_resnet_v2 import build_inception_resnet_v2
from keras_rbf.models.unet import build_unet
from keras_rbf.models.vnet import build_vnet

__all__ = ["build_cnn", "build_unet", "build_vnet", "build_inception_resnet_v2", "BUILDERS"]

# Every family builder, for code (and tests) that iterates over them.
BUILDERS = {
    "cnn": build_cnn,
    "unet": build_unet,
    "vnet": build_vnet,
    "inception_resnet_v2": build_inception_resnet_v2,
}
