"""The strong L-inf attack every report carries beside the paper's settings.

Per-example worst case over PGD with the cross-entropy loss and PGD with the C&W margin
loss (max_{j != y} z_j - z_y), each with `restarts` random starts of `nb_iter` steps.
Written here because CleverHans' PGD has no margin loss and no per-example worst case
over restarts; an example counts as broken as soon as any run breaks it, and later runs
attack only the examples still standing.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

__all__ = ["strong_linf", "pgd_linf"]


def _loss(logits, y, kind: str):
    if kind == "ce":
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    true = tf.gather(logits, y, batch_dims=1)
    other = tf.reduce_max(logits - 1e9 * tf.one_hot(y, tf.shape(logits)[-1]), axis=-1)
    return other - true


def pgd_linf(model: keras.Model, x, y, eps: float, nb_iter: int, step: float, loss: str = "ce",
             rand_init: bool = True, seed: int = 0):
    """One PGD run (L-inf, sign steps, projection onto the eps-ball and [0, 1]).

    Returns:
        The final iterate, `(N, ...)`.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.convert_to_tensor(y, tf.int64)
    rng = tf.random.Generator.from_seed(seed)
    delta = rng.uniform(tf.shape(x), -eps, eps) if rand_init else tf.zeros_like(x)
    adv = tf.clip_by_value(x + delta, 0.0, 1.0)
    return _pgd_loop(model, x, y, adv, tf.constant(eps), tf.constant(step), nb_iter, loss)


def _pgd_loop(model, x, y, adv, eps, step, nb_iter, loss):
    @tf.function(reduce_retracing=True)
    def run(x, y, adv, eps, step):
        for _ in tf.range(nb_iter):
            with tf.GradientTape() as tape:
                tape.watch(adv)
                value = tf.reduce_sum(_loss(model(adv, training=False), y, loss))
            adv = adv + step * tf.sign(tape.gradient(value, adv))
            adv = tf.clip_by_value(tf.clip_by_value(adv, x - eps, x + eps), 0.0, 1.0)
        return adv

    return run(x, y, adv, eps, step)


def strong_linf(model: keras.Model, x, y, eps: float = 0.3, nb_iter: int = 100,
                restarts: int = 3, step: float | None = None, seed: int = 0, **_) -> np.ndarray:
    """Worst case over {CE, margin} x `restarts` PGD runs, per example.

    Args:
        model: logits model.
        x: `(N, ...)` images in [0, 1]; y: `(N,)` true labels.
        eps: L-inf radius.
        nb_iter: steps per run.
        restarts: random starts per loss.
        step: step size; default `2.5 eps / nb_iter` (Madry et al.).
        seed: seed of the random starts.

    Returns:
        `(N, ...)` adversarial images: for each example, a misclassified one if any run
        found one, else the last run's iterate.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    step = step or 2.5 * eps / nb_iter
    best = x.copy()
    standing = np.argmax(model.predict(x, verbose=0), -1) == y
    run = 0
    for loss in ("ce", "margin"):
        for r in range(restarts):
            idx = np.flatnonzero(standing)
            if idx.size == 0:
                return best
            adv = pgd_linf(model, x[idx], y[idx], eps, nb_iter, step, loss,
                           rand_init=True, seed=seed + run).numpy()
            run += 1
            broken = np.argmax(model.predict(adv, verbose=0), -1) != y[idx]
            best[idx] = adv  # broken ones are final; standing ones keep the latest try
            standing[idx[broken]] = False
    return best
