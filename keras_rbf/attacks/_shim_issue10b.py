"""TEMPORARY SHIM (branch issue10b), DROP AT MERGE: issue10a provides the real classes.

Stands in for the attack interface that branch issue10a delivers in `keras_rbf.attacks`
so that the reports and `keras-rbf audit` of branch issue10b run and are tested before
the merge: `FGSM, BIM, MIM, PGD, CarliniWagnerL2, SPSA, GaussianNoise` over today's
`generate`, `APGD` and `Square` over ART, `StrongSuite` over today's compiled
`strong.pgd_linf` (CE and margin loss, not APGD) followed by ART's Square, `make` and
`as_logits`. Nothing else may import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from keras_rbf import evaluate
from keras_rbf.attacks.base import Attack, check_images


def _generate_fn():
    from keras_rbf import attacks

    return attacks.generate


class _Paper(Attack):
    key = ""

    def generate(self, x, y):
        x, y = check_images(x, y)
        return _generate_fn()(self.model, x, y, self.key, batch_size=self.batch_size,
                              progress=self.progress, **self._settings)


def _paper_class(cls_name: str, key: str) -> type:
    from keras_rbf.attacks import PAPER_SETTINGS

    defaults = dict(PAPER_SETTINGS[key])
    if key == "pgd":
        defaults.update(eps_iter=None, rand_init=True)
    if key in ("bim", "mim"):
        defaults.update(eps_iter=None)
    return type(cls_name, (_Paper,), {"key": key, "name": key, "DEFAULTS": defaults})


FGSM = _paper_class("FGSM", "fgsm")
BIM = _paper_class("BIM", "bim")
MIM = _paper_class("MIM", "mim")
PGD = _paper_class("PGD", "pgd")
CarliniWagnerL2 = _paper_class("CarliniWagnerL2", "cw")
SPSA = _paper_class("SPSA", "spsa")
GaussianNoise = _paper_class("GaussianNoise", "gn")


def _art_classifier(model, x):
    import tensorflow as tf
    from art.estimators.classification import TensorFlowV2Classifier

    n_classes = evaluate.logits(model, x[:1]).shape[-1]
    return TensorFlowV2Classifier(
        model=lambda t, training=False: evaluate._call(model, t), nb_classes=n_classes, input_shape=x.shape[1:],
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0))


class Square(Attack):
    name = "square"
    DEFAULTS = {"eps": 0.3, "max_iter": 1000, "seed": 0}

    def generate(self, x, y):
        from art.attacks.evasion import SquareAttack

        x, y = check_images(x, y)
        np.random.seed(self._settings["seed"])
        attack = SquareAttack(_art_classifier(self.model, x), eps=self._settings["eps"],
                              max_iter=self._settings["max_iter"], nb_restarts=1,
                              batch_size=max(len(x), 1), verbose=self.progress)
        return np.clip(attack.generate(x, y), 0.0, 1.0).astype(np.float32)


class APGD(Attack):
    name = "apgd"
    DEFAULTS = {"eps": 0.3, "max_iter": 100, "loss_type": "cross_entropy", "seed": 0}

    def generate(self, x, y):
        from art.attacks.evasion import AutoProjectedGradientDescent

        x, y = check_images(x, y)
        np.random.seed(self._settings["seed"])
        eps = self._settings["eps"]
        attack = AutoProjectedGradientDescent(
            _art_classifier(self.model, x), eps=eps, eps_step=2 * eps,
            max_iter=self._settings["max_iter"], nb_random_init=1, batch_size=self.batch_size,
            loss_type=self._settings["loss_type"], verbose=self.progress)
        return np.clip(attack.generate(x, y), 0.0, 1.0).astype(np.float32)


@dataclass
class SuiteResult:
    x_adv: np.ndarray
    robust: np.ndarray
    components: dict = field(default_factory=dict)
    broken_by: np.ndarray | None = None


class StrongSuite:
    """Shim: compiled PGD-CE, PGD-margin (100 steps each, one random start), then Square."""

    def __init__(self, model, eps: float, suite: str = "cpu", seed: int = 0,
                 batch_size: int = 500, progress: bool = False):
        if suite not in ("cpu", "standard"):
            raise ValueError(f"suite must be 'cpu' or 'standard', got {suite!r}")
        self.model, self.eps, self.suite, self.seed = model, float(eps), suite, seed
        self.batch_size, self.progress = batch_size, progress
        self.settings = {"eps": self.eps, "suite": suite, "seed": seed,
                         "attacks": ["pgd-ce (100 it, shim)", "pgd-margin (100 it, shim)",
                                     "square (1000 queries, ART)"]}

    def run(self, x, y) -> SuiteResult:
        from keras_rbf.attacks.strong import pgd_linf

        x, y = check_images(x, y)
        x_adv = x.copy()
        robust = evaluate.correct(self.model, x, y, self.batch_size)
        broken_by = np.where(robust, "", "clean").astype(object)
        components = {"clean": float(robust.mean())}
        steps = [("pgd-ce", "ce"), ("pgd-margin", "margin"), ("square", None)]
        for i, (name, loss) in enumerate(steps):
            idx = np.flatnonzero(robust)
            if idx.size:
                if loss is None:
                    adv = Square(self.model, eps=self.eps, seed=self.seed).generate(x[idx], y[idx])
                else:
                    adv = pgd_linf(self.model, x[idx], y[idx], self.eps, 100, 2.5 * self.eps / 100,
                                   loss, seed=self.seed + i).numpy()
                broken = ~evaluate.correct(self.model, adv, y[idx], self.batch_size)
                x_adv[idx[broken]] = adv[broken]
                robust[idx[broken]] = False
                broken_by[idx[broken]] = name
            components[name] = float(robust.mean())
            if self.progress:
                print(f"  suite eps {self.eps}: {name} -> {components[name]:.4f}", flush=True)
        return SuiteResult(x_adv, robust, components, broken_by)


_CLASSES = {"fgsm": FGSM, "bim": BIM, "mim": MIM, "pgd": PGD, "cw": CarliniWagnerL2,
            "spsa": SPSA, "gn": GaussianNoise, "apgd": APGD, "square": Square}


def make(name: str, model, **settings) -> Attack:
    return _CLASSES[name](model, **settings)


def as_logits(model, x_probe):
    out = evaluate.logits(model, x_probe)
    if np.all(out >= 0) and np.allclose(out.sum(-1), 1.0, atol=1e-3):
        import keras

        def fn(t, training=False):
            return keras.ops.log(keras.ops.clip(model(t), 1e-12, 1.0))

        return fn, "the model outputs probabilities; it is attacked through their logarithm"
    return model, None
