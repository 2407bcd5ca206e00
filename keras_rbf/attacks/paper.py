"""The paper's Table 1 attacks, with the paper's settings as defaults, over CleverHans 4 and
Foolbox 3 (the engines stay the libraries; these classes only validate, batch and fix).

Work-arounds of CleverHans 4.0.0 under Keras 3 (each has a test):
- SPSA: its `SPSAAdam` passes `lr=` to the Keras 3 Adam, which rejects it (older Keras
  silently ignored it, running at Adam's default rate); `_SPSAAdam` passes the rate.
  SPSA stops on success (CleverHans' `early_stop_loss_threshold=0`: the margin loss
  went below 0, so the image is misclassified); the settings say so.
- C&W L2: it calls `optimizer.variables()` (a property under Keras 3) and zeroes them,
  which under Keras 3 also zeroes the learning rate; it also reuses one optimizer across
  batches. A fresh attack object with `_CWAdam` is made per batch. Without `y` the
  attack is untargeted on the model's predictions (passing `y` makes it targeted).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_rbf.attacks.base import Attack, check_positive, logits_fn

__all__ = [
    "BIM",
    "FGSM",
    "MIM",
    "PAPER_SETTINGS",
    "PGD",
    "SPSA",
    "CarliniWagnerL2",
    "GaussianNoise",
]

PAPER_SETTINGS: dict[str, dict] = {
    "fgsm": {"eps": 0.3},
    "bim": {"eps": 0.3, "nb_iter": 5},
    "mim": {"eps": 0.3, "nb_iter": 10, "decay_factor": 1.0},
    "pgd": {"eps": 0.1, "nb_iter": 40},
    # 50 iterations as in the paper; lr 0.1 / initial const 1.0 because CleverHans'
    # defaults (5e-3 / 0.01) barely move pixels at 0 or 1 in 50 iterations (tanh space).
    "cw": {
        "max_iterations": 50,
        "learning_rate": 0.1,
        "initial_const": 1.0,
        "binary_search_steps": 1,
    },
    "spsa": {"eps": 0.3, "nb_iter": 20, "learning_rate": 0.1, "delta": 0.01, "spsa_samples": 128},
    "gn": {"eps": 20.0},
    # Not a paper setting: the AutoAttack-style suite every report carries beside them.
    "strong": {"eps": 0.3, "suite": "cpu", "seed": 0},
}


class _LinfIterative(Attack):
    """Shared checks of the CleverHans L-inf attacks (TensorFlow ops only: traceable)."""

    traceable = True

    def _validate(self) -> None:
        s = self._settings
        check_positive(self, "eps", s["eps"])
        if "nb_iter" in s:
            check_positive(self, "nb_iter", s["nb_iter"], integer=True)
        if s.get("eps_iter") is not None:
            check_positive(self, "eps_iter", s["eps_iter"])
            if s["eps_iter"] > s["eps"] + 1e-12:
                # CleverHans' PGD (and BIM, which calls it) asserts this; say it first.
                raise ValueError(
                    f"{type(self).__name__}: eps_iter ({s['eps_iter']}) must not exceed eps "
                    f"({s['eps']})"
                )

    def _eps_iter(self, default: float) -> float:
        return self._settings.get("eps_iter") or default


class FGSM(_LinfIterative):
    """Fast gradient sign method (Goodfellow et al. 2015), CleverHans' `fast_gradient_method`."""

    DEFAULTS = dict(PAPER_SETTINGS["fgsm"])
    name = "fgsm"

    def _generate_batch(self, x, y):
        from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method

        return fast_gradient_method(
            logits_fn(self.model), x, self._settings["eps"], np.inf, clip_min=0.0, clip_max=1.0, y=y
        )


class BIM(_LinfIterative):
    """Basic iterative method (Kurakin et al. 2017), step `eps / nb_iter` by default."""

    DEFAULTS = {**PAPER_SETTINGS["bim"], "eps_iter": None}
    name = "bim"

    def _generate_batch(self, x, y):
        from cleverhans.tf2.attacks.basic_iterative_method import basic_iterative_method

        s = self._settings
        # sanity_checks=False: CleverHans' own checks fail under NumPy >= 1.24 (np.all on
        # a ragged list); the base class checks the inputs instead.
        return basic_iterative_method(
            logits_fn(self.model),
            x,
            s["eps"],
            self._eps_iter(s["eps"] / s["nb_iter"]),
            s["nb_iter"],
            np.inf,
            clip_min=0.0,
            clip_max=1.0,
            y=y,
            sanity_checks=False,
        )


class MIM(_LinfIterative):
    """Momentum iterative method (Dong et al. 2018)."""

    DEFAULTS = {**PAPER_SETTINGS["mim"], "eps_iter": None}
    name = "mim"

    def _generate_batch(self, x, y):
        from cleverhans.tf2.attacks.momentum_iterative_method import (
            momentum_iterative_method,
        )

        s = self._settings
        return momentum_iterative_method(
            logits_fn(self.model),
            x,
            eps=s["eps"],
            eps_iter=self._eps_iter(s["eps"] / s["nb_iter"]),
            nb_iter=s["nb_iter"],
            norm=np.inf,
            clip_min=0.0,
            clip_max=1.0,
            y=y,
            decay_factor=s["decay_factor"],
            sanity_checks=False,
        )


class PGD(_LinfIterative):
    """L-inf PGD (Madry et al. 2018), CleverHans' `projected_gradient_descent`.

    Settings: eps, nb_iter, eps_iter (default `2.5 eps / nb_iter`), rand_init, seed.
    CleverHans draws its random start from TensorFlow's global generator, so `seed`
    (when not None) is set with `tf.random.set_seed` at the start of `generate`.
    """

    DEFAULTS = {**PAPER_SETTINGS["pgd"], "eps_iter": None, "rand_init": True, "seed": 0}
    name = "pgd"

    def generate(self, x, y) -> np.ndarray:
        if self._settings["seed"] is not None:
            tf.random.set_seed(self._settings["seed"])
        return super().generate(x, y)

    def _generate_batch(self, x, y):
        from cleverhans.tf2.attacks.projected_gradient_descent import (
            projected_gradient_descent,
        )

        s = self._settings
        return projected_gradient_descent(
            logits_fn(self.model),
            x,
            s["eps"],
            self._eps_iter(2.5 * s["eps"] / s["nb_iter"]),
            s["nb_iter"],
            np.inf,
            clip_min=0.0,
            clip_max=1.0,
            y=y,
            rand_init=s["rand_init"],
            sanity_checks=False,
        )


class _CWAdam(keras.optimizers.Adam):
    """Adam with the callable `variables()` that CleverHans' C&W calls to zero the
    optimizer state between binary-search steps. Keras 3 made `variables` a property
    and keeps the learning rate among them, so zeroing them all would set the rate to
    0 and C&W would return its inputs unchanged; only the step count and the moments
    are returned here."""

    def variables(self):
        return [
            self._iterations,
            *getattr(self, "_momentums", []),
            *getattr(self, "_velocities", []),
        ]


class CarliniWagnerL2(Attack):
    """Carlini & Wagner L2 (2017), untargeted on the model's own predictions."""

    DEFAULTS = dict(PAPER_SETTINGS["cw"])
    name = "cw"

    def _validate(self) -> None:
        s = self._settings
        for key in ("max_iterations", "binary_search_steps"):
            check_positive(self, key, s[key], integer=True)
        for key in ("learning_rate", "initial_const"):
            check_positive(self, key, s[key])

    def _generate_batch(self, x, y):
        from cleverhans.tf2.attacks.carlini_wagner_l2 import CarliniWagnerL2 as CW

        s = self._settings
        # Fresh object per batch (its optimizer fails when reused); y=None: untargeted on
        # the model's own predictions.
        attack = CW(
            logits_fn(self.model),
            y=None,
            targeted=False,
            batch_size=len(x),
            clip_min=0.0,
            clip_max=1.0,
            binary_search_steps=s["binary_search_steps"],
            max_iterations=s["max_iterations"],
            abort_early=False,
            initial_const=s["initial_const"],
            learning_rate=s["learning_rate"],
        )
        attack.optimizer = _CWAdam(s["learning_rate"], name="cw_adam")
        return attack.attack(np.asarray(x))


def _spsa_adam():
    from cleverhans.tf2.attacks.spsa import SPSAAdam

    class _SPSAAdam(SPSAAdam):
        """CleverHans' SPSAAdam with its learning rate actually applied under Keras 3."""

        def __init__(self, lr=0.01, delta=0.01, num_samples=128, num_iters=1):
            keras.optimizers.Adam.__init__(self, learning_rate=lr)
            self.lr = lr  # SPSAAdam._apply_gradients reads self.lr
            if num_samples % 2:
                raise ValueError("SPSA needs an even number of samples")
            self._delta = delta
            self._num_samples = num_samples // 2  # mirrored +/- delta
            self._num_iters = num_iters
            self._compare_to_analytic_grad = False

    return _SPSAAdam


class SPSA(Attack):
    """SPSA (Uesato et al. 2018), one image at a time as CleverHans requires.

    `stop_on_success` (default True) passes CleverHans' `early_stop_loss_threshold=0`:
    an image stops as soon as its margin loss is below 0 (it is misclassified).
    """

    DEFAULTS = {**PAPER_SETTINGS["spsa"], "stop_on_success": True}
    name = "spsa"

    def _validate(self) -> None:
        s = self._settings
        check_positive(self, "eps", s["eps"])
        check_positive(self, "nb_iter", s["nb_iter"], integer=True)
        check_positive(self, "delta", s["delta"])
        check_positive(self, "spsa_samples", s["spsa_samples"], integer=True)
        if s["spsa_samples"] % 2:
            raise ValueError(f"SPSA: spsa_samples must be even, got {s['spsa_samples']}")
        if isinstance(s["learning_rate"], bool) or s["learning_rate"] < 0:
            raise ValueError(f"SPSA: learning_rate must be >= 0, got {s['learning_rate']}")

    def _generate_batch(self, x, y):
        from cleverhans.tf2.attacks.spsa import (
            margin_logit_loss,
            projected_optimization,
        )

        s = self._settings
        fn = logits_fn(self.model)

        def loss_fn(image, label):
            logits = fn(image)
            return -margin_logit_loss(logits, label, nb_classes=logits.shape[-1])

        out = []
        for i in range(len(x)):
            optimizer = _spsa_adam()(
                lr=s["learning_rate"], delta=s["delta"], num_samples=s["spsa_samples"]
            )
            out.append(
                projected_optimization(
                    loss_fn,
                    tf.constant(x[i : i + 1]),
                    tf.constant(y[i : i + 1]),
                    s["eps"],
                    s["nb_iter"],
                    optimizer,
                    clip_min=0.0,
                    clip_max=1.0,
                    early_stop_loss_threshold=0.0 if s["stop_on_success"] else None,
                )
            )
        return tf.concat(out, 0)


class GaussianNoise(Attack):
    """Foolbox's L2 additive Gaussian noise (`eps` is the noise's L2 norm before clipping)."""

    DEFAULTS = dict(PAPER_SETTINGS["gn"])
    name = "gn"

    def _validate(self) -> None:
        check_positive(self, "eps", self._settings["eps"])

    def _generate_batch(self, x, y):
        import foolbox as fb

        fmodel = fb.TensorFlowModel(logits_fn(self.model), bounds=(0.0, 1.0))
        attack = fb.attacks.L2AdditiveGaussianNoiseAttack()
        _, clipped, _ = attack(
            fmodel, tf.constant(x), tf.constant(y, tf.int64), epsilons=[self._settings["eps"]]
        )
        return clipped[0]
