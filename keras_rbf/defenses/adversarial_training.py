"""Adversarial training (ADVT; Goodfellow et al., 2015) for any Keras model and any attack.

Each training batch has a random `adversarial_fraction` of its examples replaced by
adversarial versions crafted against the model as it is at that step, so the loss is
`(1 - a) J(x) + a J(x_adv)` in expectation, Goodfellow et al.'s objective. The attack is
any callable `attack(model, x, y) -> x_adv` (NumPy in, NumPy out), e.g. a few DAG
iterations for segmentation or FGSM for classification.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

__all__ = ["adversarial_fit"]


def adversarial_fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    attack: Callable[[keras.Model, np.ndarray, np.ndarray], np.ndarray],
    epochs: int = 1,
    batch_size: int = 16,
    adversarial_fraction: float = 0.5,
    seed: int = 0,
    verbose: int = 0,
) -> dict[str, list[float]]:
    """Trains a compiled model on batches partly replaced by adversarial examples.

    Args:
        model: a compiled Keras model (its optimizer and loss are used).
        x: `(N, ...)` training inputs.
        y: `(N, ...)` training targets, as the model's loss expects.
        attack: `attack(model, x_batch, y_batch) -> x_adv_batch`, same shape as `x_batch`.
        epochs: passes over the data.
        batch_size: examples per step.
        adversarial_fraction: share of each batch replaced by adversarial examples, in [0, 1].
        seed: seed of the shuffling and of the choice of examples to attack.
        verbose: 1 prints one line per epoch.

    Returns:
        `{"loss": [mean training loss per epoch]}`.
    """
    if not 0.0 <= adversarial_fraction <= 1.0:
        raise ValueError(f"adversarial_fraction must lie in [0, 1], got {adversarial_fraction}")
    if getattr(model, "optimizer", None) is None or not model.compiled:
        raise ValueError("adversarial_fit needs a compiled model (call model.compile first)")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y need the same, non-zero length, got {len(x)} and {len(y)}")
    rng = np.random.RandomState(seed)
    history = {"loss": []}
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx].copy(), y[idx]
            n_adv = int(round(adversarial_fraction * len(idx)))
            if n_adv:
                pick = rng.choice(len(idx), n_adv, replace=False)
                adv = np.asarray(attack(model, xb[pick], yb[pick]), dtype=xb.dtype)
                if adv.shape != xb[pick].shape:
                    raise ValueError(
                        f"attack returned shape {adv.shape}, expected {xb[pick].shape}"
                    )
                xb[pick] = adv
            out = model.train_on_batch(xb, yb, return_dict=True)
            losses.append(float(out["loss"]))
        history["loss"].append(float(np.mean(losses)))
        if verbose:
            print(f"adversarial_fit epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f}")
    return history
