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


def test_traceable_attacks_are_compiled_into_the_train_step_unchanged():
    """The compiled batch equals the attack's own `generate` on the same images
    (BIM has no random start) for the adversarial share, and the rest is untouched."""
    import tensorflow as tf

    from keras_rbf.attacks import BIM
    from keras_rbf.defenses.adversarial_training import AdversarialTrainer, EpsSchedule

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3), keras.layers.Flatten(),
         keras.layers.Dense(4)]
    )  # fmt: skip
    x = np.random.default_rng(1).uniform(0.1, 0.9, (10, 6, 6, 1)).astype("float32")
    y = np.random.default_rng(2).integers(0, 4, 10)
    attack = BIM(model, eps=0.1, nb_iter=3)
    trainer = AdversarialTrainer(model, attack, adversarial_fraction=0.6)
    trainer.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    assert not trainer.run_eagerly
    out = tf.function(trainer._adversarial)(tf.constant(x), tf.constant(y)).numpy()
    np.testing.assert_allclose(out[:6], attack.generate(x[:6], y[:6]), atol=1e-6)
    np.testing.assert_array_equal(out[6:], x[6:])
    assert np.abs(out[:6] - x[:6]).max() == pytest.approx(0.1, abs=1e-6)

    schedule = EpsSchedule([0.05, 0.1, 0.2])
    hist = trainer.fit(x, y, batch_size=5, epochs=3, verbose=0, callbacks=[schedule])
    assert hist.history["eps"] == [0.05, 0.1, 0.2] and trainer.attack.settings["eps"] == 0.2
    assert np.isfinite(hist.history["loss"]).all()


def test_set_eps_keeps_the_step_in_proportion_and_never_above_eps():
    from keras_rbf.attacks import PGD
    from keras_rbf.defenses.adversarial_training import AdversarialTrainer, ramp

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    trainer = AdversarialTrainer(model, PGD(model, eps=0.1, nb_iter=1, eps_iter=0.1))
    for eps in ramp(0.1, 5, 3):  # 1/30, 2/30, 0.1, ...: steps of exactly eps stay <= eps
        trainer.set_eps(eps)
        assert trainer.attack.settings["eps_iter"] <= trainer.attack.settings["eps"] == eps
    trainer = AdversarialTrainer(model, PGD(model, eps=0.3, nb_iter=10, eps_iter=0.03))
    trainer.set_eps(0.15)
    assert trainer.attack.settings["eps_iter"] == pytest.approx(0.015)
    assert ramp(0.3, 4, 2) == pytest.approx([0.15, 0.3, 0.3, 0.3])
