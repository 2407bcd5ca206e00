"""Attack wrappers: bounds, the CleverHans/Keras 3 work-arounds, the strong attack."""

import numpy as np
import pytest
import tensorflow as tf

from keras_rbf import attacks, datasets, zoo
from keras_rbf.attacks.strong import _loss, strong_linf


@pytest.fixture(scope="module")
def orig_and_data():
    x, y = datasets.load("mnist")["test"]
    return zoo.load("cnn_mnist"), x[:16], y[:16]


@pytest.mark.parametrize("attack,eps", [("fgsm", 0.3), ("bim", 0.3), ("mim", 0.3), ("pgd", 0.1)])
def test_linf_attacks_stay_in_the_ball_and_image_range_and_hurt(orig_and_data, attack, eps):
    model, x, y = orig_and_data
    adv = attacks.generate(model, x, y, attack, progress=False)
    assert adv.shape == x.shape and adv.dtype == np.float32
    assert np.abs(adv - x).max() <= eps + 1e-5
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert attacks.accuracy(model, adv, y) < attacks.accuracy(model, x, y)


def test_cw_fix_matters(orig_and_data):
    """Vanilla CleverHans C&W under Keras 3 zeroes its own learning rate and returns the
    inputs; the wrapper's C&W breaks the model with small L2 perturbations."""
    from cleverhans.tf2.attacks.carlini_wagner_l2 import CarliniWagnerL2

    model, x, y = orig_and_data
    x, y = x[:6], y[:6]
    settings = attacks.PAPER_SETTINGS["cw"]
    vanilla = CarliniWagnerL2(lambda t: model(t), batch_size=len(x), abort_early=False,
                              **{k: settings[k] for k in ("binary_search_steps", "max_iterations",
                                                          "initial_const", "learning_rate")})
    try:
        vanilla.optimizer.variables()
    except TypeError:
        pass  # Keras 3: `variables` is a list, the call fails outright
    else:
        np.testing.assert_array_equal(vanilla.attack(x), x)
    adv = attacks.generate(model, x, y, "cw", progress=False)
    assert attacks.accuracy(model, adv, y) <= 1 / 6
    l2 = np.sqrt(((adv - x) ** 2).sum(axis=(1, 2, 3)))
    assert 0.0 < np.median(l2) < 6.0


def test_spsa_learning_rate_is_applied(orig_and_data):
    """CleverHans' SPSAAdam rejects `lr` under Keras 3; the wrapper's rate is real."""
    from cleverhans.tf2.attacks.spsa import SPSAAdam

    with pytest.raises(ValueError, match="lr"):
        SPSAAdam(lr=0.1)
    model, x, y = orig_and_data
    advs = {}
    for lr in (0.0, 0.001, 0.1):
        tf.random.set_seed(0)  # same random start (CleverHans starts inside the eps-ball)
        advs[lr] = attacks.generate(model, x[:1], y[:1], "spsa", progress=False,
                                    learning_rate=lr, nb_iter=3, spsa_samples=32)
    moves = {lr: np.abs(advs[lr] - advs[0.0]).mean() for lr in (0.001, 0.1)}
    assert moves[0.1] > 10 * moves[0.001] > 0.0


def test_gaussian_noise_has_the_requested_l2_norm_before_clipping(orig_and_data):
    model, x, y = orig_and_data
    adv = attacks.generate(model, x, y, "gn", eps=2.0, progress=False)
    l2 = np.sqrt(((adv - x) ** 2).sum(axis=(1, 2, 3)))
    assert np.all(l2 <= 2.0 + 1e-4) and np.all(l2 > 0.5)  # clipping to [0,1] only shrinks


def test_margin_and_cross_entropy_losses_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 5)).astype("float32")
    y = rng.integers(0, 5, 7)
    ref_margin = np.array([np.max(np.delete(l, t)) - l[t] for l, t in zip(logits, y)])
    z = logits - logits.max(1, keepdims=True)
    ref_ce = -(z[np.arange(7), y] - np.log(np.exp(z).sum(1)))
    np.testing.assert_allclose(_loss(tf.constant(logits), tf.constant(y), "margin"), ref_margin,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_loss(tf.constant(logits), tf.constant(y), "ce"), ref_ce,
                               rtol=1e-5, atol=1e-5)


def test_strong_attack_is_at_least_as_strong_as_pgd(orig_and_data):
    model, x, y = orig_and_data
    pgd = attacks.generate(model, x, y, "pgd", eps=0.1, progress=False)
    strong = strong_linf(model, x, y, eps=0.1, nb_iter=40, restarts=1)
    assert np.abs(strong - x).max() <= 0.1 + 1e-5
    assert attacks.accuracy(model, strong, y) <= attacks.accuracy(model, pgd, y)


def test_bad_requests_are_clear_errors(orig_and_data):
    model, x, y = orig_and_data
    with pytest.raises(ValueError, match="Unknown attack"):
        attacks.generate(model, x, y, "deepfool")
    with pytest.raises(ValueError, match="labels"):
        attacks.generate(model, x, y[:3], "fgsm")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attacks.generate(model, x * 255, y, "fgsm")
