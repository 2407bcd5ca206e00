"""Adversarial training (ADVT; Goodfellow et al., 2015) for any Keras model and any attack.

Each training batch has a share `adversarial_fraction` of its examples replaced by
adversarial versions crafted against the model as it is at that step, so the loss is
`(1 - a) J(x) + a J(x_adv)`, Goodfellow et al.'s objective; `a = 1` is Madry et al.'s
PGD training. The attack is an `Attack` object built on the model being trained.

One mechanism, written once: `AdversarialTrainer` wraps the model and perturbs the batch
inside `train_step`, so a run is a plain `model.fit` (callbacks, `BackupAndRestore`
resume, history) and `EpsSchedule` ramps eps per epoch. Traceable attacks (FGSM, BIM,
MIM, PGD: TensorFlow ops only) are compiled into the train step, 10-step PGD costing
about 11 forward/backward passes per step instead of 11 eager calls; the others (DAG,
say) run eagerly through `generate`. `adversarial_fit` is the one-call form:
`adversarial_fit(model, x, y, PGD(model, eps=0.3, nb_iter=10), adversarial_fraction=1.0)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from keras_rbf.attacks.base import Attack

__all__ = ["AdversarialTrainer", "EpsSchedule", "adversarial_fit"]


class AdversarialTrainer(keras.Model):
    """`model` trained on batches whose first `adversarial_fraction` is adversarial.

    `fit` shuffles the data, so the first share of a batch is a random share of it.
    The wrapped `model` holds every weight; save and evaluate `trainer.model`.

    Args:
        model: the Keras model being trained (`(B, ...)` images in [0, 1] -> logits).
        attack: an `Attack` built on `model`.
        adversarial_fraction: share of each batch replaced, in [0, 1].
        **kwargs: `keras.Model` arguments (`name`).
    """

    def __init__(
        self, model: keras.Model, attack: Attack, adversarial_fraction: float = 1.0, **kwargs
    ):
        super().__init__(**kwargs)
        _check(model, attack, adversarial_fraction)
        self.model = model
        self.attack = attack
        self.adversarial_fraction = float(adversarial_fraction)
        self.built = model.built  # its weights are the wrapped model's (BackupAndRestore)

    def call(self, x, training=False):
        return self.model(x, training=training)

    def set_eps(self, eps: float) -> None:
        """Changes the attack's eps, and an explicit `eps_iter` in proportion (so FGSM
        with a random start keeps its step at 1.25 eps); a compiled train step is traced
        again for it."""
        old = self.attack.settings
        if eps != old.get("eps"):
            changes = {"eps": eps}
            if old.get("eps_iter") and old.get("eps"):
                # min: a step of exactly eps must stay <= eps after rounding.
                changes["eps_iter"] = min(eps, old["eps_iter"] * eps / old["eps"])
            self.attack = self.attack.replace(**changes)
            if self.train_function is not None:  # inside fit: trace the step again
                self.make_train_function(force=True)

    def compile(self, *args, **kwargs):
        # Attacks that are not TensorFlow ops need their NumPy inputs: run eagerly.
        kwargs.setdefault("run_eagerly", not self.attack.traceable)
        super().compile(*args, **kwargs)

    def train_step(self, data):
        x, y = data[0], data[1]
        return super().train_step((self._adversarial(x, y), y, *data[2:]))

    def _adversarial(self, x, y):
        import tensorflow as tf

        n = tf.shape(x)[0]
        k = tf.cast(tf.round(self.adversarial_fraction * tf.cast(n, tf.float32)), tf.int32)
        if self.attack.traceable:
            adv = tf.stop_gradient(self.attack.perturb(x[:k], tf.cast(y[:k], tf.int64)))
        elif int(k):
            adv = self.attack.generate(np.asarray(x[:k]), np.asarray(y[:k]))
        else:
            return x
        return tf.concat([tf.cast(adv, x.dtype), x[k:]], axis=0)


class EpsSchedule(keras.callbacks.Callback):
    """Sets an `AdversarialTrainer`'s eps at the start of each epoch; logs it as `eps`.

    Args:
        schedule: eps per 0-based epoch, a function or a list (one value per epoch).
    """

    def __init__(self, schedule: Callable[[int], float] | Sequence[float]):
        super().__init__()
        self.schedule = schedule

    def eps(self, epoch: int) -> float:
        if callable(self.schedule):
            return float(self.schedule(epoch))
        return float(self.schedule[min(epoch, len(self.schedule) - 1)])

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_eps(self.eps(epoch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["eps"] = self.eps(epoch)


def ramp(eps: float, epochs: int, ramp_epochs: int) -> list[float]:
    """`eps` reached linearly over the first `ramp_epochs` epochs, then held."""
    return [eps * min(1.0, (e + 1) / max(1, ramp_epochs)) for e in range(epochs)]


def _check(model, attack, adversarial_fraction) -> None:
    if not isinstance(attack, Attack):
        raise ValueError(
            f"attack must be an Attack object built on the model (e.g. "
            f"PGD(model, eps=0.3)), got {type(attack).__name__}"
        )
    if not 0.0 <= adversarial_fraction <= 1.0:
        raise ValueError(f"adversarial_fraction must lie in [0, 1], got {adversarial_fraction}")


def adversarial_fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    attack: Attack,
    epochs: int = 1,
    batch_size: int = 16,
    adversarial_fraction: float = 0.5,
    seed: int | None = 0,
    verbose: int = 0,
    eps_schedule: Callable[[int], float] | Sequence[float] | None = None,
) -> dict[str, list[float]]:
    """Trains a compiled model on batches partly replaced by adversarial examples.

    Args:
        model: a compiled Keras model (its optimizer and loss are used).
        x: `(N, ...)` training inputs.
        y: `(N, ...)` training targets, as the model's loss expects.
        attack: an `Attack` built on `model` (so it attacks the model as it trains).
        epochs: passes over the data.
        batch_size: examples per step.
        adversarial_fraction: share of each batch replaced by adversarial examples, in [0, 1].
        seed: seeds TensorFlow's generator (shuffling, random starts) before training;
            None leaves it as it is.
        verbose: Keras' progress setting.
        eps_schedule: the attack's eps per epoch, as a function of the 0-based epoch or a
            list of `epochs` values (a ramp from small eps eases the start of training);
            None keeps the attack's eps.

    Returns:
        `{"loss": [mean training loss per epoch]}` (and `"eps": [...]` with a schedule).
    """
    _check(model, attack, adversarial_fraction)
    if eps_schedule is not None and not callable(eps_schedule) and len(eps_schedule) != epochs:
        raise ValueError(f"eps_schedule lists {len(eps_schedule)} values for {epochs} epochs")
    if getattr(model, "optimizer", None) is None or not model.compiled:
        raise ValueError("adversarial_fit needs a compiled model (call model.compile first)")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y need the same, non-zero length, got {len(x)} and {len(y)}")
    if seed is not None:
        import tensorflow as tf

        tf.random.set_seed(seed)
    trainer = AdversarialTrainer(model, attack, adversarial_fraction)
    trainer.compile(optimizer=model.optimizer, loss=model.loss)
    callbacks = [EpsSchedule(eps_schedule)] if eps_schedule is not None else []
    hist = trainer.fit(
        x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose,
        callbacks=callbacks,
    )  # fmt: skip
    return {k: [float(v) for v in hist.history[k]] for k in ("loss", "eps") if k in hist.history}
