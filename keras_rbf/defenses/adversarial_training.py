"""Adversarial training (ADVT; Goodfellow et al., 2015) for any Keras model and any attack.

Each training batch has a random `adversarial_fraction` of its examples replaced by
adversarial versions crafted against the model as it is at that step, so the loss is
`(1 - a) J(x) + a J(x_adv)` in expectation, Goodfellow et al.'s objective. The attack is
an `Attack` object built on the model being trained, e.g.
`adversarial_fit(model, x, y, attack=PGD(model, eps=0.3, nb_iter=10))` (Madry et al.'s
PGD training, with `adversarial_fraction=1.0`) or `DAG(model, iterations=5)` for
segmentation; `eps_schedule` ramps its eps over the epochs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from keras_rbf.attacks.base import Attack

__all__ = ["adversarial_fit"]


def adversarial_fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    attack: Attack,
    epochs: int = 1,
    batch_size: int = 16,
    adversarial_fraction: float = 0.5,
    seed: int = 0,
    verbose: int = 0,
    eps_schedule: Callable[[int], float] | Sequence[float] | None = None,
) -> dict[str, list[float]]:
    """Trains a compiled model on batches partly replaced by adversarial examples.

    Args:
        model: a compiled Keras model (its optimizer and loss are used).
        x: `(N, ...)` training inputs.
        y: `(N, ...)` training targets, as the model's loss expects.
        attack: an `Attack` built on `model` (so it attacks the model as it trains);
            give `PGD` `seed=None`, since a fixed seed re-seeds TensorFlow's global
            generator at every batch (the same random starts each time).
        epochs: passes over the data.
        batch_size: examples per step.
        adversarial_fraction: share of each batch replaced by adversarial examples, in [0, 1].
        seed: seed of the shuffling and of the choice of examples to attack.
        verbose: 1 prints one line per epoch.
        eps_schedule: the attack's eps per epoch, as a function of the 0-based epoch or a
            list of `epochs` values (a ramp from small eps eases the start of training);
            None keeps the attack's eps.

    Returns:
        `{"loss": [mean training loss per epoch]}` (and `"eps": [...]` with a schedule).
    """
    if not isinstance(attack, Attack):
        raise ValueError(
            f"attack must be an Attack object built on the model (e.g. "
            f"PGD(model, eps=0.3)), got {type(attack).__name__}"
        )
    if eps_schedule is not None and not callable(eps_schedule) and len(eps_schedule) != epochs:
        raise ValueError(f"eps_schedule lists {len(eps_schedule)} values for {epochs} epochs")
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
        if eps_schedule is not None:
            eps = float(eps_schedule(epoch) if callable(eps_schedule) else eps_schedule[epoch])
            attack = attack.replace(eps=eps)
            history.setdefault("eps", []).append(eps)
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx].copy(), y[idx]
            n_adv = int(round(adversarial_fraction * len(idx)))
            if n_adv:
                pick = rng.choice(len(idx), n_adv, replace=False)
                adv = np.asarray(attack.generate(xb[pick], yb[pick]), dtype=xb.dtype)
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
