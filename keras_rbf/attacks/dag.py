"""Dense Adversary Generation (DAG; Xie et al., ICCV 2017) against segmentation models.

CleverHans and Foolbox have no dense (per-pixel) attack, so it is written here. For an
image X with per-pixel true labels l and adversarial target labels l' (l' != l):

    r = 0
    for m = 0 .. M-1:
        T_m = {pixels p : argmax_c Z(X + r)[p, c] == l[p]}     # still correctly labelled
        if T_m is empty: stop
        g   = d/dX sum_{p in T_m} (Z(X + r)[p, l'[p]] - Z(X + r)[p, l[p]])
        r   = r + gamma * g / ||g||_inf

`Z` are the model's per-pixel logits. The paper under reproduction uses gamma = 0.03
with 10 and 30 iterations (its section 5.2). Each image of a batch stops on its own.
Optionally the adversarial image is clipped to the valid pixel range after each step
(Xie et al. do not clip; an attack on [0, 1] images should, so a perturbed image is still
an image); the settings record which was used.

    x_adv = DAG(model, iterations=10).generate(images, masks)       # adversarial images
    result = DAG(model, iterations=30).run(images, masks, record_at=(10, 30))  # DAGResult
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from keras_rbf.attacks.base import Attack, check_positive

__all__ = ["DAG", "DAGResult", "adversarial_targets"]


@dataclass
class DAGResult:
    """What a DAG run produced.

    Attributes:
        adversarial: `(N, ...)` float32 images after the last iteration run.
        snapshots: `{m: (N, ...) images after min(m, stop) iterations}` for every `m` in
            `record_at` (a 30-iteration run yields the 10-iteration result on the way,
            because DAG is deterministic and iterative).
        iterations_run: `(N,)` int, iterations each image took before it stopped.
        correct_fraction: `(N,)` float, fraction of pixels still correctly labelled at
            the end (0 means the attack reached every pixel).
        settings: the arguments the run used, for reports.
    """

    adversarial: np.ndarray
    snapshots: dict[int, np.ndarray]
    iterations_run: np.ndarray
    correct_fraction: np.ndarray
    settings: dict = field(default_factory=dict)


def adversarial_targets(labels: np.ndarray, num_classes: int, seed: int = 0) -> np.ndarray:
    """Per-pixel adversarial target labels, each different from the true label.

    Binary segmentation flips every label; with more classes each pixel gets a random
    wrong class (uniform, seeded), as in Xie et al.

    Args:
        labels: `(N, ...)` integer true labels.
        num_classes: number of classes (>= 2).
        seed: seed of the random wrong classes.

    Returns:
        `(N, ...)` int32 targets with `targets != labels` everywhere.
    """
    labels = np.asarray(labels).astype("int32")
    if num_classes < 2:
        raise ValueError(f"adversarial targets need num_classes >= 2, got {num_classes}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]"
        )
    if num_classes == 2:
        return 1 - labels
    offset = np.random.RandomState(seed).randint(1, num_classes, size=labels.shape)
    return ((labels + offset) % num_classes).astype("int32")


# model -> {(gamma, num_classes, rank): traced step}, so repeated calls on one model (as in
# adversarial training, one call per batch) reuse the traced graph instead of re-tracing.
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _two_class(logits):
    # A single-logit (sigmoid) model scores class 1 with z and class 0 with 0.
    if logits.shape[-1] == 1:
        return tf.concat([tf.zeros_like(logits), logits], axis=-1)
    return logits


class DAG(Attack):
    """Dense Adversary Generation against a segmentation model (per-pixel logits).

    Settings:
        gamma: step scale; each step moves the image by at most gamma per value (0.03).
        iterations: iteration limit M (30; the paper also reports 10).
        clip: `(low, high)` range after each step, or None (Xie et al.'s original).
        seed: seed of `adversarial_targets` for more than two classes.

    `generate(images, labels)` takes `(N, ...spatial)` per-pixel labels and returns the
    adversarial images; `run` returns the whole `DAGResult` (snapshots, iterations run).
    """

    DEFAULTS = {"gamma": 0.03, "iterations": 30, "clip": (0.0, 1.0), "seed": 0}
    name = "dag"

    def __init__(self, model: Callable, batch_size: int = 32, progress: bool = False, **settings):
        super().__init__(model, batch_size=batch_size, progress=progress, **settings)

    def _validate(self) -> None:
        s = self._settings
        check_positive(self, "gamma", s["gamma"])
        m = s["iterations"]
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise ValueError(f"DAG: iterations must be a non-negative integer, got {m!r}")
        if s["clip"] is not None and len(s["clip"]) != 2:
            raise ValueError(f"DAG: clip must be (low, high) or None, got {s['clip']!r}")

    def generate(self, x, y) -> np.ndarray:
        """Adversarial images `(N, ...spatial, C)` for per-pixel labels `y` `(N, ...spatial)`."""
        return self.run(x, y).adversarial

    def run(
        self, x, y, targets: np.ndarray | None = None, record_at: Sequence[int] = ()
    ) -> DAGResult:
        """The whole DAG run (see `DAGResult`); `targets` default `adversarial_targets`."""
        s = self._settings
        return _dag(
            self.model,
            x,
            y,
            targets=targets,
            gamma=s["gamma"],
            iterations=s["iterations"],
            record_at=record_at,
            clip=s["clip"],
            batch_size=self.batch_size,
            seed=s["seed"],
        )


def _dag(
    model: Callable,
    images: np.ndarray,
    labels: np.ndarray,
    targets: np.ndarray | None = None,
    gamma: float = 0.03,
    iterations: int = 30,
    record_at: Sequence[int] = (),
    clip: tuple[float, float] | None = (0.0, 1.0),
    batch_size: int = 32,
    seed: int = 0,
) -> DAGResult:
    """Runs DAG on a batch of images.

    Args:
        model: any callable mapping a float32 `(B, ...spatial, C_in)` tensor to per-pixel
            logits `(B, ...spatial, classes)` (a Keras model, or e.g.
            `lambda x: model(squeeze(x))` for a defended pipeline; it must be
            differentiable with TensorFlow).
        images: `(N, ...spatial, C_in)` inputs.
        labels: `(N, ...spatial)` integer true labels (ground truth).
        targets: `(N, ...spatial)` adversarial labels; default `adversarial_targets`.
        gamma: step scale; each step moves the image by at most gamma per value.
        iterations: iteration limit M (>= 0).
        record_at: iteration counts whose intermediate images to keep in `snapshots`.
        clip: `(low, high)` range the adversarial image is clipped to after each step,
            or None for no clipping (Xie et al.'s original).
        batch_size: images per gradient computation.
        seed: seed of `adversarial_targets` for more than two classes.

    Returns:
        A `DAGResult`.
    """
    # Why this function is long: one tf.function body: DAG's whole iteration is traced as one
    # graph
    images = np.asarray(images, dtype="float32")
    labels = np.asarray(labels).astype("int32")
    if images.shape[: labels.ndim] != labels.shape or images.ndim != labels.ndim + 1:
        raise ValueError(
            f"labels {labels.shape} must be the images' shape {images.shape} without channels"
        )
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    if not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    record_at = sorted({int(m) for m in record_at})
    if any(m < 0 or m > iterations for m in record_at):
        raise ValueError(f"record_at {record_at} must lie in [0, iterations={iterations}]")
    num_classes = int(_two_class(model(tf.constant(images[:1]))).shape[-1])
    if targets is None:
        targets = adversarial_targets(labels, num_classes, seed=seed)
    targets = np.asarray(targets).astype("int32")
    if targets.shape != labels.shape:
        raise ValueError(f"targets {targets.shape} must have the labels' shape {labels.shape}")
    if np.any(targets == labels):
        raise ValueError("adversarial targets must differ from the true labels at every pixel")

    step = _step_fn(model, float(gamma), num_classes, images.ndim)
    n = len(images)
    adversarial = images.copy()
    snapshots = {m: np.empty_like(images) for m in record_at}
    iterations_run = np.zeros(n, dtype="int32")
    correct_fraction = np.zeros(n, dtype="float64")
    pixels = float(np.prod(labels.shape[1:]))
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        x = adversarial[sl].copy()
        y, t = tf.constant(labels[sl]), tf.constant(targets[sl])
        active = np.ones(len(x), dtype=bool)
        runs = np.zeros(len(x), dtype="int32")
        if 0 in snapshots:
            snapshots[0][sl] = x
        n_correct = None
        for m in range(1, iterations + 1):
            r, n_correct = step(tf.constant(x), y, t)
            n_correct = n_correct.numpy()
            active &= n_correct > 0  # an image with no correct pixel has stopped for good
            if not active.any():
                break
            x = x + r.numpy() * active.reshape((-1,) + (1,) * (x.ndim - 1))
            if clip is not None:
                x = np.clip(x, clip[0], clip[1])
            runs += active
            if m in snapshots:
                snapshots[m][sl] = x
        # Fill snapshots past an early stop with the final images.
        for m in record_at:
            if m > runs.max(initial=0) and m > 0:
                snapshots[m][sl] = x
        adversarial[sl] = x
        iterations_run[sl] = runs
        _, final_correct = step(tf.constant(x), y, t)
        correct_fraction[sl] = final_correct.numpy() / pixels
    return DAGResult(
        adversarial=adversarial,
        snapshots=snapshots,
        iterations_run=iterations_run,
        correct_fraction=correct_fraction,
        settings={
            "gamma": float(gamma),
            "iterations": int(iterations),
            "clip": None if clip is None else [float(clip[0]), float(clip[1])],
            "targets": "flip (binary) / random wrong class",
            "stop": "no correct pixel",
        },
    )


def _step_fn(model, gamma: float, num_classes: int, rank: int):
    """The traced DAG step for `model` (cached per model, gamma, classes and input rank)."""
    key = (gamma, num_classes, rank)
    try:
        cache = _STEPS.setdefault(model, {})
        # The cached step must not keep the model alive (it is the cache's weak key).
        model_ref = weakref.ref(model)
    except TypeError:  # not weak-referenceable: no caching
        cache, model_ref = {}, (lambda: model)
    if key in cache:
        return cache[key]
    reduce_axes = list(range(1, rank))
    pixel_axes = list(range(1, rank - 1))

    @tf.function(reduce_retracing=True)
    def step(x, y, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = _two_class(model_ref()(x))
            z_true = tf.reduce_sum(z * tf.one_hot(y, num_classes, dtype=z.dtype), axis=-1)
            z_adv = tf.reduce_sum(z * tf.one_hot(t, num_classes, dtype=z.dtype), axis=-1)
            correct = tf.cast(tf.equal(tf.argmax(z, axis=-1, output_type=tf.int32), y), z.dtype)
            # The correct-pixel mask is a constant of the step (it selects the active set).
            loss = tf.reduce_sum(tf.stop_gradient(correct) * (z_adv - z_true))
        g = tape.gradient(loss, x)
        g_max = tf.reduce_max(tf.abs(g), axis=reduce_axes, keepdims=True)
        r = tf.math.divide_no_nan(gamma * g, g_max)
        n_correct = tf.reduce_sum(correct, axis=pixel_axes)
        return r, n_correct

    cache[key] = step
    return step
