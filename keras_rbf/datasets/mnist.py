"""MNIST digits (LeCun et al. 1998), the standard 60,000 / 10,000 split.

Splits: `train` = the first 55,000 training images, `validation` = the last 5,000 (the
split Keras' and TensorFlow's tutorials use for model selection), `test` = all 10,000
test images. Every recipe choice is made on `validation`; `test` is for the final
measurements only.

Where the arrays come from, in order:

1. `path=` (a `mnist.npz` in Keras' format), then `$KERAS_RBF_MNIST`;
2. Keras' cache file `~/.keras/datasets/mnist.npz`, read with `np.load`. It is never
   handed to `keras.datasets.mnist.load_data()`: a file written by another tool (such
   as `fetch-mnist`) holds the same arrays in other bytes, Keras' file-hash check fails
   on it and, offline, Keras deletes it;
3. with `download=True` and no file anywhere, `keras.datasets.mnist.load_data()` (a
   machine with internet gets Keras' standard download into that cache);
4. otherwise the 10,000 test images shipped in this package (`mnist_test.npz`, uint8,
   MNIST's licence in `MNIST_LICENSE.txt`): `load()` then returns `{"test": ...}` only,
   and says so once, so evaluation runs offline right after `pip install`. Training
   needs the full file: `datasets.require` raises a one-line error naming it.

Every array is checked against the sha256 of MNIST's own arrays before it is used.
"""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from keras_rbf.datasets import DatasetNotFoundError

__all__ = [
    "load",
    "cache_file",
    "SHIPPED_TEST",
    "N_TRAIN",
    "N_VALIDATION",
    "ENV_VAR",
]

ENV_VAR = "KERAS_RBF_MNIST"
N_TRAIN, N_VALIDATION = 55_000, 5_000
SHIPPED_TEST = Path(__file__).with_name("mnist_test.npz")
# sha256 of each uint8 array's bytes (C order) in Keras' mnist.npz; the image digests are
# those `fetch-mnist` checks, the label digests were computed from the same arrays.
SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}


def how_to_get() -> str:
    """Where the full file goes and how to get it (the end of every missing-data error)."""
    return (
        f"full MNIST goes in {cache_file()}: get it with `python -c 'import keras; "
        "keras.datasets.mnist.load_data()'` on a machine with internet (or the project's "
        f"fetch-mnist script), or point ${ENV_VAR} at a copy"
    )


Splits = dict[str, tuple[np.ndarray, np.ndarray]]
_said_test_only = False


def cache_file() -> Path:
    """Keras' own cache file, `~/.keras/datasets/mnist.npz` (honours `$KERAS_HOME`)."""
    root = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return root / "datasets" / "mnist.npz"


def _images(x: np.ndarray) -> np.ndarray:
    return (x.reshape(-1, 28, 28, 1) / 255.0).astype("float32")


def _read(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays `keys` of an `.npz`, each checked against MNIST's sha256."""
    try:
        with np.load(path) as data:
            arrays = {key: np.ascontiguousarray(data[key]) for key in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetNotFoundError(
            f"{path} is not a readable MNIST file ({type(err).__name__}: {err}); {how_to_get()}"
        ) from None
    for key, array in arrays.items():
        digest = hashlib.sha256(array.astype("uint8").tobytes()).hexdigest()
        if array.dtype != np.uint8 or digest != SHA256[key]:
            raise DatasetNotFoundError(
                f"{path}: {key} is not MNIST's (sha256 {digest[:12]}...); the file is corrupt "
                f"or another data set; {how_to_get()}"
            )
    return arrays


def _full_file(path: str | os.PathLike | None, download: bool) -> Path | None:
    """The full MNIST file to read, by the module's source order; None if there is none."""
    for given, what in ((path, "path="), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if given:
            if not Path(given).is_file():
                raise DatasetNotFoundError(
                    f"MNIST file {given} (from {what}) not found; {how_to_get()}"
                )
            return Path(given)
    if cache_file().is_file():
        return cache_file()
    if download:
        import keras

        keras.datasets.mnist.load_data()  # Keras' standard download into its cache
        return cache_file()
    return None


def _shipped_test() -> Splits:
    global _said_test_only
    if not _said_test_only:
        print(
            f"MNIST: {cache_file()} not found, using the 10,000 test images shipped with "
            "keras_rbf (no train/validation split; training needs the full file)",
            file=sys.stderr,
        )
        _said_test_only = True
    arrays = _read(SHIPPED_TEST, ("x_test", "y_test"))
    return {"test": (_images(arrays["x_test"]), arrays["y_test"].astype("int64"))}


def load(path: str | os.PathLike | None = None, download: bool = False) -> Splits:
    """Loads MNIST as `{"train", "validation", "test"}`, or `{"test"}` without the file.

    Args:
        path: a `mnist.npz` in Keras' format; searched first (see the module docstring).
        download: with no file anywhere, call `keras.datasets.mnist.load_data()` (needs
            internet) instead of falling back to the shipped test split.

    Returns:
        `{split: (x, y)}`: x float32 in [0, 1] shaped `(N, 28, 28, 1)`, y int64 class ids;
        train 55,000, validation 5,000, test 10,000 images.

    Raises:
        DatasetNotFoundError: a file named by `path` / `$KERAS_RBF_MNIST` is missing, or a
            file's arrays are not MNIST's.
    """
    full = _full_file(path, download)
    if full is None:
        return _shipped_test()
    a = _read(full, tuple(SHA256))
    x_train, y_train = _images(a["x_train"]), a["y_train"].astype("int64")
    return {
        "train": (x_train[:N_TRAIN], y_train[:N_TRAIN]),
        "validation": (x_train[N_TRAIN:], y_train[N_TRAIN:]),
        "test": (_images(a["x_test"]), a["y_test"].astype("int64")),
    }
