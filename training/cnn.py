"""Trains a CNN zoo entry: `python -m training.cnn cnn_rbf_mnist [--epochs 15]`.

Same as `keras-rbf train NAME`; the recipe lives in `keras_rbf.recipes.cnn`.
"""

import sys

from keras_rbf.recipes.cnn import main

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m training.cnn NAME [--epochs E] [--seed S] ...")
    sys.exit(main(sys.argv[1], sys.argv[2:]))
