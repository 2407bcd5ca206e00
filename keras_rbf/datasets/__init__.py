"""Data sets, one module per data set: `keras_rbf.datasets.load(name, **kwargs)`.

Each loader reads the data set's real on-disk format; a data set that is not on this
machine raises `DatasetNotFoundError` saying where it looked and how to get it.
Synthetic data sets carry "synth" in their names.

The data contract (docs/design.md): every loader returns a dict from split names to
splits. The names are "train", "validation" (only where the data set defines one) and
"test". A split is an `(x, y)` pair of NumPy arrays, or, for a data set too large for
memory (ChestX-ray14), a lazy split object with the same access: `x, y = split`,
`split.x`, `split.y`, `len(split)`, `split.x[i:j]` decodes only those examples.
"""

from __future__ import annotations

import importlib
from typing import Any

from keras_rbf.errors import UserError

__all__ = ["load", "load_entry", "require", "names", "DatasetNotFoundError", "SPLITS"]

# The split names of the data contract, in order; a loader returns a subset of them.
SPLITS = ("train", "validation", "test")

# name -> "module:function"; each function takes keyword options of its own.
LOADERS: dict[str, str] = {
    "mnist": "keras_rbf.datasets.mnist:load",
    "fashion_mnist": "keras_rbf.datasets.fashion_mnist:load",
    "isic2017": "keras_rbf.datasets.isic2017:load",
    "synthlesion": "keras_rbf.datasets.synthetic_lesions:load",
    "chestxray14": "keras_rbf.datasets.chestxray14:load",
}


class DatasetNotFoundError(FileNotFoundError):
    """The files of a data set are not where the loader looked."""


def names() -> list[str]:
    """Names accepted by `load`."""
    return sorted(LOADERS)


def load(name: str, **kwargs) -> Any:
    """Loads data set `name`; see the data set's module for its options.

    Returns:
        `{split: (x, y)}` for split names among "train", "validation", "test" (the data
        contract of this package's docstring); ChestX-ray14 gives lazy `ChestSplit`s.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        DatasetNotFoundError: the data set's files are not on this machine.
    """
    if name not in LOADERS:
        raise UserError(f"Unknown data set {name!r}. Known data sets: {', '.join(names())}")
    module, _, func = LOADERS[name].partition(":")
    return getattr(importlib.import_module(module), func)(**kwargs)


def require(name: str, splits: dict, needed: tuple[str, ...] = ("train", "validation")) -> dict:
    """`splits` if it holds every split in `needed`, else a one-line error saying how to
    get the missing ones (MNIST without its full file has only the shipped test split).

    Raises:
        DatasetNotFoundError: a needed split is missing.
    """
    missing = [s for s in needed if s not in splits]
    if missing:
        module, _, _ = LOADERS[name].partition(":")
        loader = importlib.import_module(module)
        hint = loader.how_to_get() if hasattr(loader, "how_to_get") else loader.HOW_TO_GET
        raise DatasetNotFoundError(
            f"{name}: no {' / '.join(missing)} split on this machine (it has "
            f"{', '.join(splits) or 'none'}); {hint}"
        )
    return splits


def load_entry(dataset: dict, data_dir: str | None = None) -> Any:
    """`{split: (images, labels)}` of a zoo card's `dataset` entry.

    Args:
        dataset: the card's `{"name": ..., "kwargs": {...}}`.
        data_dir: root of a data set on disk (ISIC 2017); ignored for the others.
    """
    kwargs = dict(dataset.get("kwargs", {}))
    if dataset["name"] == "isic2017":
        kwargs["data_dir"] = data_dir
        if "image_size" in kwargs:
            kwargs["image_size"] = tuple(kwargs["image_size"])  # JSON has lists
    return load(dataset["name"], **kwargs)
