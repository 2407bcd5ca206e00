"""NIH ChestX-ray14 (Wang et al., CVPR 2017) as the paper's binary CHEST task.

Reads the official release layout::

    DATA_DIR/Data_Entry_2017.csv     (or Data_Entry_2017_v2020.csv) with columns
                                     "Image Index" and "Finding Labels"
    DATA_DIR/images/00000001_000.png ...   (the images_*.tar.gz archives extracted)

Label: 0 for "No Finding", 1 for any finding (the paper treats all 14 diseases as
positive). The paper's split (section 3) is drawn at image level, as the paper
describes it: 45,000 positive + 45,000 negative training images, 6,666 + 6,666
validation images and 200 test images, 93 positive and 107 negative, all disjoint.
The NIH official patient-wise train/test lists are not used, so one patient can appear
in more than one split, as in the paper's random selection.

The split is reproducible from `seed`; `fraction` scales every count (for a subset of
the data or a small fixture). The images are 1024 x 1024 8-bit PNGs, far too many to
hold in memory at 299 x 299 (90,000 x 299^2 floats = 32 GB), so the loader returns lazy
splits (the package's data contract, see `keras_rbf.datasets`): a `ChestSplit` holds file
paths and labels and gives the same access as an `(x, y)` pair, `x, y = split`,
`split.x` / `split.y`, where `x` is a `LazyImages` sequence that decodes only the images
asked for (`split.x[:8]`, `np.asarray(split.x)`). `ChestSplit.images` reads a split into
an array at any size (the 200 test images) and `ChestSplit.dataset` streams one with
`tf.data`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from keras_rbf.datasets import SPLITS, DatasetNotFoundError

__all__ = [
    "load",
    "read_entries",
    "sample_split",
    "write_fixture",
    "ChestSplit",
    "LazyImages",
    "PAPER_COUNTS",
    "ENV_VAR",
]

ENV_VAR = "KERAS_RBF_CHESTXRAY14_DIR"
CSV_NAMES = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
# (negative, positive) counts of the paper's section 3.
PAPER_COUNTS = {"train": (45000, 45000), "validation": (6666, 6666), "test": (107, 93)}
NO_FINDING = "No Finding"


class LazyImages:
    """The images of a split, decoded from disk only when indexed.

    Args:
        paths: `(N,)` array of PNG paths.
        image_size: output side (or `(H, W)`).
        channels: 1 (grayscale) or 3 (the gray image repeated).

    `len(x)`, `x[i]` (one `(H, W, C)` image), `x[i:j]` or `x[index_array]`
    (`(n, H, W, C)`), `np.asarray(x)` (all of them: mind the memory) and `x.shape`.
    """

    def __init__(
        self, paths: np.ndarray, image_size: int | tuple[int, int] = 299, channels: int = 1
    ):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.paths = np.asarray(paths)
        self.hw = _hw(image_size)
        self.channels = int(channels)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.hw, self.channels)

    def __getitem__(self, index) -> np.ndarray:
        selected = self.paths[index]
        if np.ndim(selected) == 0:
            return _read_png(str(selected), self.hw, self.channels).numpy()
        out = np.empty((len(selected), *self.hw, self.channels), "float32")
        for i, path in enumerate(selected):
            out[i] = _read_png(str(path), self.hw, self.channels).numpy()
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


@dataclass
class ChestSplit:
    """One split: image paths and binary labels (1 = any finding), read lazily.

    Behaves like the `(x, y)` pair of the other data sets: `x, y = split`, `split.x`
    (a `LazyImages` at `image_size` x `channels`), `split.y` (the labels), `len(split)`.

    Attributes:
        paths: `(N,)` array of PNG paths.
        labels: `(N,)` int64 array, 0 = "No Finding", 1 = any finding.
        image_size: side (or `(H, W)`) of the images `x` gives; 299 as in the paper.
        channels: channels of the images `x` gives (1, grayscale, or 3).
    """

    paths: np.ndarray
    labels: np.ndarray
    image_size: int | tuple[int, int] = 299
    channels: int = 1

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def x(self) -> LazyImages:
        """The images, decoded on indexing (`split.x[:8]`)."""
        return LazyImages(self.paths, self.image_size, self.channels)

    @property
    def y(self) -> np.ndarray:
        """The `(N,)` int64 labels."""
        return self.labels

    def __iter__(self):
        # `x, y = split`, as for the `(x, y)` arrays of the other data sets.
        return iter((self.x, self.y))

    def images(self, image_size: int | tuple[int, int] = 299, channels: int = 1) -> np.ndarray:
        """Reads and resizes every image of the split into memory.

        Args:
            image_size: output side (or `(H, W)`).
            channels: 1 (grayscale) or 3 (the gray image repeated).

        Returns:
            float32 array `(N, H, W, channels)` in [0, 1].
        """
        return LazyImages(self.paths, image_size, channels)[:]

    def dataset(
        self,
        image_size: int | tuple[int, int] = 299,
        batch_size: int = 4,
        channels: int = 1,
        shuffle: bool = False,
        seed: int = 0,
        augment: Callable | None = None,
        repeat: bool = False,
    ):
        """A `tf.data.Dataset` of `(images, labels)` batches read from disk.

        Args:
            image_size: output side (or `(H, W)`).
            batch_size: batch size.
            channels: 1 or 3.
            shuffle: reshuffle the file order every epoch (seeded).
            seed: shuffle seed.
            augment: optional `(images, labels) -> (images, labels)` function on a batch
                (e.g. `keras_rbf.defenses.augmentation.GaussianAugment`), applied after
                batching.
            repeat: repeat forever.
        """
        import tensorflow as tf

        hw = _hw(image_size)
        ds = tf.data.Dataset.from_tensor_slices((self.paths.astype(str), self.labels))
        if shuffle:
            ds = ds.shuffle(len(self.paths), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(
            lambda p, y: (_read_png(p, hw, channels), y), num_parallel_calls=tf.data.AUTOTUNE
        )
        ds = ds.batch(batch_size)
        if augment is not None:
            ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)


def _hw(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    h, w = image_size
    return int(h), int(w)


def _read_png(path, hw: tuple[int, int], channels: int):
    import tensorflow as tf

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    # A few ChestX-ray14 PNGs are stored as RGBA; decoding to 1 channel converts them.
    img = tf.io.decode_png(tf.io.read_file(path), channels=1)
    img = tf.image.resize(tf.cast(img, tf.float32) / 255.0, hw, antialias=True)
    img = tf.clip_by_value(img, 0.0, 1.0)
    return tf.repeat(img, 3, axis=-1) if channels == 3 else img


def _data_dir(data_dir) -> Path:
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR)
    if data_dir is None:
        raise DatasetNotFoundError(
            "ChestX-ray14 needs a data directory: pass data_dir=... (or --data-dir) or set "
            f"${ENV_VAR}. It must hold Data_Entry_2017.csv and images/*.png from "
            "https://nihcc.app.box.com/v/ChestXray-NIHCC (not available on this machine)."
        )
    return Path(data_dir)


def read_entries(
    data_dir: str | os.PathLike | None = None,
    csv_name: str | None = None,
    check_images: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Reads the data entry CSV: image paths and binary labels, in CSV order.

    Args:
        data_dir: the release folder; default `$KERAS_RBF_CHESTXRAY14_DIR`.
        csv_name: CSV file name; default the first of `Data_Entry_2017.csv`,
            `Data_Entry_2017_v2020.csv` that exists.
        check_images: raise if an image of the CSV is missing under `images/`.

    Returns:
        `(paths, labels)`: `(N,)` str array of PNG paths, `(N,)` int64 labels
        (0 = "No Finding", 1 = any finding).

    Raises:
        DatasetNotFoundError: no CSV, no `images/` folder, or missing images.
        ValueError: the CSV lacks the "Image Index" / "Finding Labels" columns.
    """
    root = _data_dir(data_dir)
    names = (csv_name,) if csv_name else CSV_NAMES
    csv_path = next((root / n for n in names if (root / n).is_file()), None)
    if csv_path is None:
        raise DatasetNotFoundError(
            f"ChestX-ray14 label file not found: looked for {' or '.join(names)} in {root}"
        )
    image_dir = root / "images"
    if not image_dir.is_dir():
        raise DatasetNotFoundError(
            f"ChestX-ray14 images folder not found: {image_dir} (extract the "
            "images_*.tar.gz archives of the release there)"
        )
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"Image Index", "Finding Labels"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{csv_path} lacks the column(s) {sorted(missing)}")
        rows = [(r["Image Index"].strip(), r["Finding Labels"].strip()) for r in reader]
    if not rows:
        raise ValueError(f"{csv_path} has no entries")
    paths = np.array([str(image_dir / name) for name, _ in rows])
    labels = np.array([0 if findings == NO_FINDING else 1 for _, findings in rows], "int64")
    if check_images:
        present = set(os.listdir(image_dir))
        absent = [name for name, _ in rows if name not in present]
        if absent:
            raise DatasetNotFoundError(
                f"{len(absent)} of {len(rows)} images listed in {csv_path.name} are missing "
                f"from {image_dir}, e.g. {absent[:3]}"
            )
    return paths, labels


def _scaled_counts(fraction: float, counts: dict | None) -> dict[str, tuple[int, int]]:
    counts = dict(PAPER_COUNTS if counts is None else counts)
    unknown = sorted(set(counts) - set(SPLITS))
    if unknown:
        raise ValueError(f"counts has unknown split name(s) {unknown}; use {', '.join(SPLITS)}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    out = {}
    for split, (neg, pos) in counts.items():
        out[split] = (max(1, int(round(neg * fraction))), max(1, int(round(pos * fraction))))
    return out


def sample_split(
    labels: np.ndarray, seed: int = 0, fraction: float = 1.0, counts: dict | None = None
) -> dict[str, np.ndarray]:
    """The paper's balanced, disjoint sampling of image indices.

    Negatives and positives are each permuted with `np.random.RandomState(seed)` and
    handed out in the order train, validation, test.

    Args:
        labels: `(N,)` binary labels.
        seed: seed of the permutations.
        fraction: scales every count of `counts` (at least 1 image per class and split).
        counts: `{split: (negatives, positives)}`; default `PAPER_COUNTS`.

    Returns:
        `{split: sorted index array}`.

    Raises:
        ValueError: fewer negatives or positives than the counts need.
    """
    counts = _scaled_counts(fraction, counts)
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in (0, 1)]
    for c, kind in ((0, "negative (No Finding)"), (1, "positive (any finding)")):
        need = sum(v[c] for v in counts.values())
        if need > len(pools[c]):
            raise ValueError(
                f"Not enough {kind} images for the split: need {need} "
                f"({', '.join(f'{s} {v[c]}' for s, v in counts.items())}), have "
                f"{len(pools[c])}. Pass a smaller fraction= or counts=."
            )
    splits, used = {}, [0, 0]
    for split, (neg, pos) in counts.items():
        idx = [pools[0][used[0] : used[0] + neg], pools[1][used[1] : used[1] + pos]]
        used[0] += neg
        used[1] += pos
        splits[split] = np.sort(np.concatenate(idx))
    return splits


def load(
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    counts: dict | None = None,
    csv_name: str | None = None,
) -> dict[str, ChestSplit]:
    """The paper's CHEST splits of ChestX-ray14.

    Args:
        data_dir: release folder (CSV + images/); default `$KERAS_RBF_CHESTXRAY14_DIR`.
        seed: seed of the balanced sampling.
        fraction: scales the paper's counts (e.g. 0.01 for a quick run).
        counts: `{split: (negatives, positives)}` replacing the paper's counts.
        csv_name: CSV file name if not the official one.

    Returns:
        `{"train": ChestSplit, "validation": ChestSplit, "test": ChestSplit}` (the keys
        of `counts` if given), lazy splits with `(x, y)` access (see `ChestSplit`).
    """
    paths, labels = read_entries(data_dir, csv_name)
    return {
        split: ChestSplit(paths[idx], labels[idx])
        for split, idx in sample_split(labels, seed=seed, fraction=fraction, counts=counts).items()
    }


def write_fixture(
    root: str | os.PathLike, negatives: int, positives: int, size: int = 96, seed: int = 0
) -> Path:
    """Writes a tiny synthetic data set in the ChestX-ray14 release layout (for tests).

    The images are random noise with a bright square on positives, so a model can learn
    something in a few steps; they are not X-rays, and nothing trained on them may be
    called a ChestX-ray14 model.

    Args:
        root: folder to create (`root/Data_Entry_2017.csv`, `root/images/*.png`).
        negatives, positives: number of "No Finding" and finding images.
        size: image side in pixels.
        seed: seed of the pixel noise.

    Returns:
        `Path(root)`.
    """
    from PIL import Image

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    findings = ["Atelectasis", "Effusion|Infiltration", "Nodule", "Pneumonia|Mass"]
    rows = []
    for i in range(negatives + positives):
        positive = i >= negatives
        name = f"{i + 1:08d}_000.png"
        img = rng.randint(0, 128, size=(size, size)).astype("uint8")
        if positive:
            img[size // 4 : size // 2, size // 4 : size // 2] = 230
        Image.fromarray(img, mode="L").save(root / "images" / name)
        rows.append((name, findings[i % len(findings)] if positive else NO_FINDING, i + 1))
    with open(root / "Data_Entry_2017.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Image Index", "Finding Labels", "Follow-up #", "Patient ID"])
        for name, label, patient in rows:
            writer.writerow([name, label, 0, patient])
    return root
