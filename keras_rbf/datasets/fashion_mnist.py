"""Fashion-MNIST (Xiao et al. 2017), the official 60,000/10,000 split, from IDX files.

Splits as MNIST's (`keras_rbf.datasets.mnist`): `train` = the first 55,000 training
images, `validation` = the last 5,000, `test` = all 10,000.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_rbf.datasets import DatasetNotFoundError
from keras_rbf.datasets.idx import read_idx

__all__ = ["load", "search_dirs", "FILES", "N_TRAIN"]

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
ENV_VAR = "KERAS_RBF_FASHION_MNIST_DIR"
N_TRAIN = 55_000  # the last 5,000 training images are the validation split
HOW_TO_GET = (  # the end of every missing-data error
    "install Debian's package `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist), "
    f"set ${ENV_VAR}, or pass path=..."
)


def search_dirs(path: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched, in order: `path`, `$KERAS_RBF_FASHION_MNIST_DIR`, Debian's
    dataset-fashion-mnist location, the Keras cache."""
    dirs = [Path(path)] if path else []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs += [
        Path("/usr/share/datasets/fashion-mnist"),
        Path.home() / ".keras" / "datasets" / "fashion-mnist",
    ]
    return dirs


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load(path: str | os.PathLike | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Loads Fashion-MNIST as `{"train", "validation", "test"}` (55,000 / 5,000 / 10,000).

    Args:
        path: folder holding the four IDX files (`.gz` or not); searched first.

    Returns:
        x float32 in [0, 1] shaped `(N, 28, 28, 1)`, y int64 class ids.

    Raises:
        DatasetNotFoundError: no searched folder holds all four files.
    """
    for folder in search_dirs(path):
        found = {key: _find(folder, stem) for key, stem in FILES.items()}
        if all(found.values()):
            a = {key: read_idx(p) for key, p in found.items()}
            x = {
                k: (a[k].reshape(-1, 28, 28, 1) / 255.0).astype("float32")
                for k in FILES
                if k[0] == "x"
            }
            y = {k: a[k].astype("int64") for k in FILES if k[0] == "y"}
            return {
                "train": (x["x_train"][:N_TRAIN], y["y_train"][:N_TRAIN]),
                "validation": (x["x_train"][N_TRAIN:], y["y_train"][N_TRAIN:]),
                "test": (x["x_test"], y["y_test"]),
            }
    raise DatasetNotFoundError(
        "Fashion-MNIST IDX files ("
        + ", ".join(f"{s}[.gz]" for s in FILES.values())
        + ") not found in: "
        + ", ".join(str(d) for d in search_dirs(path))
        + f"; {HOW_TO_GET}"
    )
