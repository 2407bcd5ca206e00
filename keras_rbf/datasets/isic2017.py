"""ISIC 2017 skin lesion segmentation (ISBI 2017 challenge, Part 1), from its official layout.

The data set is not shipped and cannot be downloaded by this package; get it from the
ISIC archive (https://challenge.isic-archive.com/data/#2017) and unpack the zips into one
folder, giving::

    ROOT/ISIC-2017_Training_Data/ISIC_0000000.jpg ...
    ROOT/ISIC-2017_Training_Part1_GroundTruth/ISIC_0000000_segmentation.png ...
    ROOT/ISIC-2017_Validation_Data/...      ROOT/ISIC-2017_Validation_Part1_GroundTruth/...
    ROOT/ISIC-2017_Test_v2_Data/...         ROOT/ISIC-2017_Test_v2_Part1_GroundTruth/...

(`Test` is accepted for `Test_v2`). Other files in those folders (`*_superpixels.png`,
metadata CSVs, licences) are ignored. Pass ROOT as `data_dir` or set
`$KERAS_RBF_ISIC2017_DIR`.

Before anything is decoded, each split is checked: an image without mask, a mask without
image, or a file PIL cannot read raises `ISICLayoutError` listing every such file.
Images are resized bilinearly, masks with nearest neighbour and binarized (> 127).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from keras_rbf.datasets import DatasetNotFoundError
from keras_rbf.errors import UserError

__all__ = ["load", "load_split", "list_pairs", "as_dataset", "ISICLayoutError", "SPLIT_DIRS"]

# split -> (image folder names, mask folder names), first existing one wins.
SPLIT_DIRS = {
    "train": (("ISIC-2017_Training_Data",), ("ISIC-2017_Training_Part1_GroundTruth",)),
    "validation": (("ISIC-2017_Validation_Data",), ("ISIC-2017_Validation_Part1_GroundTruth",)),
    "test": (
        ("ISIC-2017_Test_v2_Data", "ISIC-2017_Test_Data"),
        ("ISIC-2017_Test_v2_Part1_GroundTruth", "ISIC-2017_Test_Part1_GroundTruth"),
    ),
}
_IMAGE = re.compile(r"^(ISIC_\d{7})\.jpg$")
_MASK = re.compile(r"^(ISIC_\d{7})_segmentation\.png$")
ENV_VAR = "KERAS_RBF_ISIC2017_DIR"


class ISICLayoutError(UserError):
    """Files of an ISIC 2017 split are unpaired or unreadable (the message lists them)."""


def _root(data_dir) -> Path:
    data_dir = data_dir or os.environ.get(ENV_VAR)
    if not data_dir:
        raise DatasetNotFoundError(
            "ISIC 2017 is not shipped with keras-rbf and cannot be downloaded by it. Get the "
            "Part 1 (segmentation) zips from https://challenge.isic-archive.com/data/#2017, "
            f"unpack them into one folder and pass it as data_dir= or set ${ENV_VAR}."
        )
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetNotFoundError(f"ISIC 2017 folder {root} does not exist")
    return root


def _find(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    looked = " or ".join(str(root / n) for n in names)
    raise DatasetNotFoundError(f"ISIC 2017 {what} folder not found: looked for {looked}")


def list_pairs(
    data_dir: str | os.PathLike | None = None, split: str = "train"
) -> list[tuple[Path, Path]]:
    """Sorted `(image, mask)` paths of one split, after checking that every file is paired.

    Args:
        data_dir: ROOT of the unpacked data set (default `$KERAS_RBF_ISIC2017_DIR`).
        split: "train", "validation" or "test".

    Returns:
        List of `(image_path, mask_path)`, sorted by ISIC id.

    Raises:
        DatasetNotFoundError: ROOT or a split folder is missing.
        ISICLayoutError: images without masks or masks without images (all listed), or
            an empty split.
    """
    if split not in SPLIT_DIRS:
        raise ValueError(f"unknown ISIC 2017 split {split!r}; known: {sorted(SPLIT_DIRS)}")
    root = _root(data_dir)
    image_dir = _find(root, SPLIT_DIRS[split][0], f"{split} image")
    mask_dir = _find(root, SPLIT_DIRS[split][1], f"{split} ground-truth")
    images = {m.group(1): p for p in image_dir.iterdir() if (m := _IMAGE.match(p.name))}
    masks = {m.group(1): p for p in mask_dir.iterdir() if (m := _MASK.match(p.name))}
    problems = [f"image without mask: {images[k]}" for k in sorted(set(images) - set(masks))]
    problems += [f"mask without image: {masks[k]}" for k in sorted(set(masks) - set(images))]
    if problems:
        raise ISICLayoutError(
            f"ISIC 2017 {split} split has {len(problems)} unpaired file(s):\n  "
            + "\n  ".join(problems)
        )
    if not images:
        raise ISICLayoutError(
            f"ISIC 2017 {split} split has no ISIC_nnnnnnn.jpg images in {image_dir}"
        )
    return [(images[k], masks[k]) for k in sorted(images)]


def load_split(
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    image_size: tuple[int, int] = (64, 64),
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decodes and resizes one split.

    Args:
        data_dir: ROOT of the unpacked data set (default `$KERAS_RBF_ISIC2017_DIR`).
        split: "train", "validation" or "test".
        image_size: `(height, width)` after resizing.
        limit: keep only the first `limit` pairs (by ISIC id), e.g. for quick runs.

    Returns:
        `(images, masks)`: float32 `(N, H, W, 3)` in [0, 1] and uint8 `(N, H, W)` in {0, 1}.

    Raises:
        ISICLayoutError: unpaired files, or files PIL cannot decode (all listed).
    """
    from PIL import Image

    height, width = (int(s) for s in image_size)
    pairs = list_pairs(data_dir, split)[:limit]
    images = np.empty((len(pairs), height, width, 3), dtype="float32")
    masks = np.empty((len(pairs), height, width), dtype="uint8")
    unreadable = []
    for i, (img_path, mask_path) in enumerate(pairs):
        for path, kind in ((img_path, "image"), (mask_path, "mask")):
            try:
                with Image.open(path) as im:
                    if kind == "image":
                        im = im.convert("RGB").resize((width, height), Image.BILINEAR)
                        images[i] = np.asarray(im, dtype="float32") / 255.0
                    else:
                        im = im.convert("L").resize((width, height), Image.NEAREST)
                        masks[i] = (np.asarray(im) > 127).astype("uint8")
            except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
                unreadable.append(f"unreadable {kind}: {path} ({type(err).__name__}: {err})")
    if unreadable:
        raise ISICLayoutError(
            f"ISIC 2017 {split} split has {len(unreadable)} unreadable file(s):\n  "
            + "\n  ".join(unreadable)
        )
    return images, masks


def as_dataset(
    images: np.ndarray,
    masks: np.ndarray,
    batch_size: int = 16,
    shuffle: bool = False,
    seed: int = 0,
):
    """A batched, prefetched `tf.data.Dataset` of `(image, mask)` pairs.

    Args:
        images: `(N, H, W, C)` float32.
        masks: `(N, H, W)` integer labels.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (seeded).
        seed: shuffle seed.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, masks.astype("int32")))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def load(
    data_dir: str | os.PathLike | None = None,
    splits: tuple[str, ...] = ("train", "validation", "test"),
    image_size: tuple[int, int] = (64, 64),
    limit: int | None = None,
    as_tf_data: bool = False,
    batch_size: int = 16,
):
    """ISIC 2017 Part 1 (lesion segmentation) splits from the official layout.

    Args:
        data_dir: ROOT holding the `ISIC-2017_*` folders (default `$KERAS_RBF_ISIC2017_DIR`).
        splits: splits to load.
        image_size: `(height, width)` after resizing.
        limit: at most this many pairs per split.
        as_tf_data: return `tf.data.Dataset`s (batched; training split shuffled) instead
            of NumPy arrays.
        batch_size: batch size of the `tf.data` pipelines.

    Returns:
        `{split: (images, masks)}` (see `load_split`) or `{split: tf.data.Dataset}`.
    """
    out = {s: load_split(data_dir, s, image_size, limit) for s in splits}
    if as_tf_data:
        return {
            s: as_dataset(*arr, batch_size=batch_size, shuffle=(s == "train"))
            for s, arr in out.items()
        }
    return out
