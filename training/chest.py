"""Trains a CHEST zoo entry:
`python -m training.chest inception_resnet_v2_rbf_chest --data-dir DIR`.

Same as `keras-rbf train NAME --data-dir DIR`; the recipe (paper 5.1) lives in
`keras_rbf.recipes.chest`. Add `--gda-stddev 0.1` for the GDA model of Table 3.
"""

import sys

from keras_rbf.recipes.chest import main

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m training.chest NAME --data-dir DIR [--epochs E] ...")
    sys.exit(main(sys.argv[1], sys.argv[2:]))
