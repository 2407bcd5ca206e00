"""Adversarial training (`adversarial_fit`) with an attack object and an eps schedule."""

import keras
import numpy as np
import pytest

from keras_rbf.datasets import synthetic_lesions
from keras_rbf.defenses.adversarial_training import adversarial_fit
from keras_rbf.models.unet import build_unet


def test_adversarial_fit_replaces_the_requested_share_of_each_batch():
    from keras_rbf.attacks import Attack

    seen = []

    class Brighten(Attack):
        DEFAULTS = {"eps": 0.1}

        def generate(self, xb, yb):
            seen.append((len(xb), self.settings["eps"]))
            return np.clip(xb + self.settings["eps"], 0, 1)

    model = build_unet((8, 8, 3), encoder_depth=1, encoder_filters=2)
    attack = Brighten(model)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = synthetic_lesions.generate(8, size=8, seed=0)
    hist = adversarial_fit(model, x, y, attack, epochs=2, batch_size=4, adversarial_fraction=0.5)
    assert seen == [(2, 0.1)] * 4 and len(hist["loss"]) == 2 and np.isfinite(hist["loss"]).all()
    seen.clear()
    hist = adversarial_fit(model, x, y, attack, epochs=2, batch_size=4, eps_schedule=[0.0, 0.2])
    assert seen == [(2, 0.0), (2, 0.0), (2, 0.2), (2, 0.2)] and hist["eps"] == [0.0, 0.2]
    with pytest.raises(ValueError, match="Attack"):
        adversarial_fit(model, x, y, lambda m, xb, yb: xb)
    with pytest.raises(ValueError, match="compiled"):
        adversarial_fit(build_unet((8, 8, 3), encoder_depth=1, encoder_filters=2), x, y, attack)
