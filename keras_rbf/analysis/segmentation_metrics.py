"""Per-image segmentation scores (Dice, FPR, FNR) and their mean +- standard error.

The paper's Tables 4-6 report, over the test images, the mean of a per-image score and
its standard error (sample standard deviation / sqrt(n)). The scores here are computed
per image on binary masks (foreground = lesion), then summarized with `summarize`.

Conventions for empty masks (they matter on synthetic data, where a batch can hold an
image without lesion, and under attack, where a prediction can vanish):
- Dice of an empty prediction against an empty ground truth is 1 (perfect agreement).
- FPR = FP / (FP + TN) is 0 when the image has no background pixel.
- FNR = FN / (FN + TP) is 0 when the image has no foreground pixel (nothing to miss).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "dice",
    "false_positive_rate",
    "false_negative_rate",
    "summarize",
    "scores",
    "masks_from_logits",
]


def _binary_pair(pred, truth) -> tuple[np.ndarray, np.ndarray]:
    """Validates and flattens a pair of mask batches to `(N, pixels)` booleans."""
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(
            f"prediction and ground truth masks differ in shape: {pred.shape} vs {truth.shape}"
        )
    if pred.ndim < 2:
        raise ValueError(f"masks need shape (N, ...spatial), got {pred.shape}")
    for label, arr in (("prediction", pred), ("ground truth", truth)):
        values = np.unique(arr)
        if not np.all(np.isin(values, (0, 1))):
            raise ValueError(
                f"{label} masks must be binary (0/1 or bool), found values {values[:10]}"
            )
    n = pred.shape[0]
    return pred.reshape(n, -1).astype(bool), truth.reshape(n, -1).astype(bool)


def _counts(pred, truth):
    p, t = _binary_pair(pred, truth)
    tp = np.sum(p & t, axis=1).astype("float64")
    fp = np.sum(p & ~t, axis=1).astype("float64")
    fn = np.sum(~p & t, axis=1).astype("float64")
    tn = np.sum(~p & ~t, axis=1).astype("float64")
    return tp, fp, fn, tn


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(num.shape, empty, dtype="float64")
    np.divide(num, den, out=out, where=den > 0)
    return out


def dice(pred, truth) -> np.ndarray:
    """Per-image Dice `2 TP / (2 TP + FP + FN)`.

    Args:
        pred: `(N, ...)` binary predicted masks.
        truth: `(N, ...)` binary ground-truth masks, same shape.

    Returns:
        `(N,)` float64 scores in [0, 1]; 1 where both masks are empty.
    """
    tp, fp, fn, _ = _counts(pred, truth)
    return _ratio(2.0 * tp, 2.0 * tp + fp + fn, empty=1.0)


def false_positive_rate(pred, truth) -> np.ndarray:
    """Per-image FPR `FP / (FP + TN)`; `(N,)` float64, 0 where there is no background."""
    _, fp, _, tn = _counts(pred, truth)
    return _ratio(fp, fp + tn, empty=0.0)


def false_negative_rate(pred, truth) -> np.ndarray:
    """Per-image FNR `FN / (FN + TP)`; `(N,)` float64, 0 where there is no foreground."""
    tp, _, fn, _ = _counts(pred, truth)
    return _ratio(fn, fn + tp, empty=0.0)


def summarize(values) -> dict[str, float]:
    """Mean and standard error (sample std with ddof=1, over sqrt(n)) of per-image scores.

    Args:
        values: 1-D sequence of per-image scores (at least one).

    Returns:
        `{"mean": ..., "se": ..., "n": ...}`; `se` is 0 for a single value.
    """
    v = np.asarray(values, dtype="float64").ravel()
    if v.size == 0:
        raise ValueError("summarize needs at least one value")
    se = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return {"mean": float(np.mean(v)), "se": se, "n": int(v.size)}


def scores(pred, truth) -> dict[str, dict[str, float]]:
    """Dice, FPR and FNR of a batch, each summarized as mean +- standard error.

    Args:
        pred: `(N, ...)` binary predicted masks.
        truth: `(N, ...)` binary ground-truth masks.

    Returns:
        `{"dice": {...}, "fpr": {...}, "fnr": {...}}` with the keys of `summarize`.
    """
    return {
        "dice": summarize(dice(pred, truth)),
        "fpr": summarize(false_positive_rate(pred, truth)),
        "fnr": summarize(false_negative_rate(pred, truth)),
    }


def masks_from_logits(logits) -> np.ndarray:
    """Binary foreground masks from per-pixel logits.

    Args:
        logits: `(N, ..., C)`; with C >= 2 the mask is `argmax != 0` (class 0 is
            background), with C == 1 it is `logit > 0`.

    Returns:
        `(N, ...)` uint8 masks.
    """
    logits = np.asarray(logits)
    if logits.shape[-1] == 1:
        return (logits[..., 0] > 0).astype("uint8")
    return (np.argmax(logits, axis=-1) != 0).astype("uint8")
