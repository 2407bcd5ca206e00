"""Trains a segmentation zoo entry:
`python -m training.segmentation unet_rbf_synthlesion [--epochs 10]`.

Same as `keras-rbf train NAME`; the recipe (ADADELTA lr 1.0, rho 0.95, batch 16, paper
section 5.2) lives in `keras_rbf.recipes.segmentation`. ISIC 2017 entries (`*_skin`)
need `--data-dir ROOT` (or `$KERAS_RBF_ISIC2017_DIR`) pointing at the unpacked data.
"""

import sys

from keras_rbf.recipes.segmentation import main

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m training.segmentation NAME [--epochs E] [--data-dir ROOT] ...")
    sys.exit(main(sys.argv[1], sys.argv[2:]))
