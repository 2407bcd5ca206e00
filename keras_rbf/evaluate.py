"""The evaluation helpers every report, recipe and callback uses (written once here).

- `logits(model, x, batch_size)`: a model's outputs on `x`, batch by batch;
- `predict_labels`, `correct`, `accuracy`: top-1 decisions and their score;
- `wilson_interval(k, n)`: the 95 % interval that every reported accuracy carries;
- `rbf_live_fractions(model, x)`: fraction of live activations per `RBFMapping` layer;
- `rbf_branch_ablation(model, x, y)`: accuracy with each RBF branch's output replaced by
  its mean (does the model use the branch?);
- `load_test_split(name)`: the test images and labels of a `keras_rbf.datasets` data set;
  `sample_indices(n_total, n)`: the fixed sample of them that reports and audits attack.
- `predict_masks`, `evaluate_segmentation`, `segmentation_live_fractions`: the same for
  segmentation models (binary masks, Dice / FPR / FNR, live fractions as recorded).

`model` is a Keras model or any callable from a batch of images to logits (a squeezer in
front of a model, say). Calls are eager and batch by batch: no graph is traced per
model, which matters for the many short evaluations a report makes, and batches of
different sizes never retrace.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np

__all__ = [
    "output_flags",
    "accuracy",
    "correct",
    "evaluate_segmentation",
    "load_test_split",
    "logits",
    "predict_labels",
    "predict_masks",
    "rbf_branch_ablation",
    "rbf_layers",
    "rbf_live_fractions",
    "sample_indices",
    "segmentation_live_fractions",
    "wilson_interval",
]

# The attacked sample is a prefix of ONE permutation of the test split, drawn from this
# seed and never from a run's `--seed`, so every report, seed, control and audit attacks
# the same images and a smaller n is a prefix of a larger one. Not the first n images:
# MNIST's test set is ordered (its first 5,000 come from NIST's training set, cleaner and
# easier than the last 5,000), so a prefix of it is not a fair sample.
SAMPLE_SEED = 0


def _call(model: Callable, xb: np.ndarray):
    # Keras models take `training`; an arbitrary callable (a squeezer lambda) may not.
    if isinstance(model, keras.Model):
        return model(xb, training=False)
    return model(xb)


def logits(model: Callable, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Outputs of `model` on `x`, computed in batches.

    Args:
        model: a Keras model or a callable from `(B, ...)` images to `(B, classes)` outputs.
        x: `(N, ...)` inputs.
        batch_size: inputs per call.

    Returns:
        `(N, classes)` NumPy array (float32 as the model gives it).
    """
    if len(x) == 0:
        raise ValueError("logits: no inputs (x is empty)")
    out = [
        keras.ops.convert_to_numpy(_call(model, x[i : i + batch_size]))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out, axis=0)


def predict_labels(model: Callable, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Arg-max class of `model` on each input: `(N,)` int64."""
    return np.argmax(logits(model, x, batch_size), axis=-1).astype(np.int64)


def correct(model: Callable, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """`(N,)` bool mask: True where `model`'s top-1 class equals label `y`."""
    return predict_labels(model, x, batch_size) == np.asarray(y)


def accuracy(model: Callable, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Top-1 accuracy of `model` on `(x, y)`, a float in [0, 1]."""
    return float(np.mean(correct(model, x, y, batch_size)))


def output_flags(model: Callable, x: np.ndarray, passes: int = 5) -> list[dict]:
    """AutoAttack's output checks on `model` (randomized outputs over `passes` forward
    passes, outputs that look like probabilities), as `reports.masking` flags.

    Args:
        model: a Keras model or callable images -> scores, as the user gave it.
        x: `(n, ...)` images to probe (AutoAttack probes one batch of 250).
        passes: forward passes compared (5 in AutoAttack).

    Returns:
        the flags raised (empty for a deterministic model with logits).
    """
    from keras_rbf.reports import masking

    outputs = [logits(model, x) for _ in range(passes)]
    flags = [masking.randomized_flag(outputs), masking.probability_flag(outputs[0])]
    return [f for f in flags if f]


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n (95 % for z = 1.96).

    Chosen over the normal approximation because it stays inside [0, 1] and keeps a
    sensible width at k = 0 or k = n, where robust accuracies often sit.

    Args:
        k: successes (correct images), 0 <= k <= n.
        n: trials (images).
        z: standard-normal quantile of the level.

    Returns:
        `(low, high)`; `(0.0, 1.0)` when n == 0.
    """
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 or k = n the bound is exactly 0 or 1; rounding must not move it off p.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def rbf_layers(model: keras.Model) -> list:
    """The `RBFMapping` layers of a model, in topological order."""
    from keras_rbf.layers import RBFMapping

    return [layer for layer in model.layers if isinstance(layer, RBFMapping)]


def rbf_live_fractions(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> dict:
    """Live fraction (phi in (1e-3, 0.999)) of each `RBFMapping` layer's activations on `x`.

    Args:
        model: a functional model containing `RBFMapping` layers.
        x: `(N, ...)` model inputs.
        batch_size: inputs per call.

    Returns:
        `{layer_name: fraction in [0, 1]}`; empty for a model without RBF layers.
    """
    from keras_rbf.layers import live_fraction

    layers = rbf_layers(model)
    if not layers:
        return {}
    probe = keras.Model(model.input, [layer.input for layer in layers])
    live = np.zeros(len(layers))
    total = np.zeros(len(layers))
    for i in range(0, len(x), batch_size):
        feats = probe(x[i : i + batch_size], training=False)
        feats = feats if isinstance(feats, (list, tuple)) else [feats]
        for j, (layer, f) in enumerate(zip(layers, feats)):
            # Weighted by size so batches of any length give the mean over all activations.
            phi = keras.ops.convert_to_numpy(layer.activations(f))
            live[j] += live_fraction(phi) * phi.size
            total[j] += phi.size
    return {layer.name: float(live[j] / total[j]) for j, layer in enumerate(layers)}


def rbf_branch_ablation(
    model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 500
) -> dict:
    """Clean accuracy with each `RBFMapping` layer's output replaced by its mean on `x`.

    A model that uses its RBF branches loses accuracy when a branch's output `g` (Eq. 4)
    is replaced by a constant; one that learned to ignore them does not. The constant is
    the per-unit mean of `g` over `x` (and over positions of feature maps), which is the
    best constant in squared error, so the drop measures what the branch's variation
    carries. It is applied by setting the layer's `kernel` to 0 and its `bias` to that
    mean (exactly `g = mean`), one layer at a time; the weights are restored after.

    Args:
        model: a functional model with `RBFMapping` layers (with `use_bias=True`).
        x: `(N, ...)` inputs.
        y: `(N,)` integer labels.
        batch_size: inputs per call.

    Returns:
        `{"clean": accuracy, layer_name: {"accuracy": with the mean, "drop": clean -
        accuracy}}`; only "clean" for a model without RBF layers.
    """
    clean = accuracy(model, x, y, batch_size)
    out: dict = {"clean": clean}
    for layer in rbf_layers(model):
        if not layer.use_bias:
            raise ValueError(f"rbf_branch_ablation needs use_bias=True in {layer.name!r}")
        probe = keras.Model(model.input, layer.output)
        sums, count = 0.0, 0
        for i in range(0, len(x), batch_size):
            g = keras.ops.convert_to_numpy(probe(x[i : i + batch_size], training=False))
            g = g.reshape(-1, g.shape[-1]).astype("float64")
            sums, count = sums + g.sum(axis=0), count + len(g)
        saved = [w.numpy() for w in (layer.kernel, layer.bias)]
        try:
            layer.kernel.assign(np.zeros_like(saved[0]))
            layer.bias.assign((sums / count).astype(saved[1].dtype))
            ablated = accuracy(model, x, y, batch_size)
        finally:
            layer.kernel.assign(saved[0])
            layer.bias.assign(saved[1])
        out[layer.name] = {"accuracy": ablated, "drop": clean - ablated}
    return out


def load_test_split(name: str, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """`(x_test, y_test)` of data set `name` from `keras_rbf.datasets.load(name, **kwargs)`."""
    from keras_rbf import datasets

    return datasets.load(name, **kwargs)["test"]


def sample_indices(n_total: int, n: int | None = None) -> np.ndarray:
    """Indices of the fixed evaluation sample: the first `n` of one seeded permutation.

    Args:
        n_total: size of the test split.
        n: sample size; None or >= n_total gives every index (in the permutation's order).

    Returns:
        int64 indices, shape `(min(n, n_total),)`.
    """
    order = np.random.RandomState(SAMPLE_SEED).permutation(n_total).astype("int64")
    return order if n is None else order[:n]


def predict_masks(model: Callable, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Binary masks `(N, H, W)` predicted by a segmentation logits model (or any callable)."""
    from keras_rbf.analysis.segmentation_metrics import masks_from_logits

    out = []
    for start in range(0, len(x), batch_size):
        out.append(keras.ops.convert_to_numpy(model(x[start : start + batch_size])))
    return masks_from_logits(np.concatenate(out))


def evaluate_segmentation(model: Callable, x: np.ndarray, y: np.ndarray, batch_size: int = 32):
    """Dice, FPR, FNR (mean +- standard error over images) of a model on `(x, y)`."""
    from keras_rbf.analysis.segmentation_metrics import scores

    return scores(predict_masks(model, x, batch_size), y)


def segmentation_live_fractions(model: keras.Model, x: np.ndarray) -> dict[str, float]:
    """`rbf_live_fractions` in batches of 32 (segmentation images are large), rounded to
    4 digits as segmentation cards and reports record them."""
    return {k: round(float(v), 4) for k, v in rbf_live_fractions(model, x, batch_size=32).items()}
