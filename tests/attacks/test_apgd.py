"""Compiled APGD against ART's AutoProjectedGradientDescent on the same model and images,
plus the properties ART does not check (any-iterate success, dropping broken images,
batch-size independence) and the losses against NumPy."""

import numpy as np
import pytest
import tensorflow as tf
from attack_models import Counting, art_classifier, mnist_test, robust, trained_cnn

from keras_rbf.attacks import APGD
from keras_rbf.attacks.apgd import checkpoints, dlr_loss, dlr_targeted_loss

ART_LOSS = {"ce": "cross_entropy", "dlr": "difference_logits_ratio"}


@pytest.fixture(scope="module")
def setup():
    model = trained_cnn()
    x, y = mnist_test(80)
    return model, x, y


def _art_apgd(model, x, y, eps, loss, nb_iter=100, targeted=False):
    from art.attacks.evasion import AutoProjectedGradientDescent

    attack = AutoProjectedGradientDescent(
        art_classifier(model),
        norm=np.inf,
        eps=eps,
        eps_step=2 * eps,
        max_iter=nb_iter,
        targeted=targeted,
        nb_random_init=1,
        batch_size=len(x),
        loss_type=ART_LOSS[loss],
        verbose=False,
    )
    return attack.generate(x, y)


def _check_bounds_and_flags(model, x, y, x_adv, broken, eps):
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    # Every image counted broken is misclassified (re-evaluated), and vice versa.
    np.testing.assert_array_equal(robust(model, x_adv, y), ~broken)


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_matches_art(setup, loss):
    model, x, y = setup
    eps = 0.1
    x_adv, broken = APGD(model, eps=eps, loss=loss).attack(x, y)
    _check_bounds_and_flags(model, x, y, x_adv, broken, eps)
    ours = 1.0 - broken.mean()
    art = robust(model, _art_apgd(model, x, y, eps, loss), y).mean()
    clean = robust(model, x, y).mean()
    assert ours < clean - 0.3  # the attack does something on this model at this eps
    assert ours <= art + 0.04, (ours, art)
    assert abs(ours - art) <= 0.06, (ours, art)


def test_targeted_apgd_matches_art_over_the_same_targets(setup):
    model, x, y = setup
    x, y = x[:50], y[:50]
    eps, n_targets, nb_iter = 0.08, 3, 50
    x_adv, broken = APGD(
        model, eps=eps, loss="dlr", targeted=True, nb_iter=nb_iter, n_target_classes=n_targets
    ).attack(x, y)
    _check_bounds_and_flags(model, x, y, x_adv, broken, eps)
    # ART's targeted APGD, once per target (the 2nd..4th class of the clean logits).
    ranked = np.argsort(-np.asarray(model(x)), axis=-1)
    art_robust = robust(model, x, y)
    for r in range(1, n_targets + 1):
        adv = _art_apgd(model, x, ranked[:, r], eps, "dlr", nb_iter, targeted=True)
        art_robust &= robust(model, adv, y)
    ours, art = 1.0 - broken.mean(), art_robust.mean()
    assert ours < robust(model, x, y).mean() - 0.2
    assert ours <= art + 0.06, (ours, art)


def test_broken_images_are_dropped_at_once(setup):
    model, x, y = setup
    counting = Counting(model)
    nb_iter = 50
    _, broken = APGD(counting, eps=0.3, nb_iter=nb_iter).attack(x, y)
    assert broken.all()  # eps 0.3 breaks this small undefended model
    # Without dropping: clean pass + start + nb_iter steps for every image.
    assert int(counting.images.numpy()) < 0.15 * len(x) * (nb_iter + 2)


def test_an_image_broken_at_any_iterate_counts_and_keeps_that_iterate(setup):
    model, x, y = setup
    eps = 0.1
    # One step at 2 eps then 19 more: the run wanders; a break anywhere must count.
    few = APGD(model, eps=eps, nb_iter=1).attack(x, y)[1]
    many = APGD(model, eps=eps, nb_iter=20).attack(x, y)[1]
    assert np.all(many[few])  # what one step broke stays broken with more steps


def test_batch_size_does_not_change_results(setup):
    model, x, y = setup
    x, y = x[:30], y[:30]
    _, a = APGD(model, eps=0.1, nb_iter=20, loss="dlr", batch_size=7).attack(x, y)
    full = APGD(model, eps=0.1, nb_iter=20, loss="dlr", batch_size=30)
    b_adv = full.generate(x, y)
    _, b = full.attack(x, y)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(robust(model, b_adv, y), ~b)
    # Order does not matter either (random starts follow each image, not its position).
    perm = np.random.default_rng(0).permutation(len(x))
    _, c = full.attack(x[perm], y[perm])
    np.testing.assert_array_equal(c, b[perm])


def test_standing_images_come_back_at_their_highest_loss_point(setup):
    model, x, y = setup
    x, y = x[:20], y[:20]
    x_adv, broken = APGD(model, eps=0.02, nb_iter=10).attack(x, y)
    standing = ~broken & robust(model, x, y)
    assert standing.any()

    def ce(v):
        return tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(v)).numpy()

    assert np.all(ce(x_adv)[standing] > ce(x)[standing])


def test_losses_match_numpy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(9, 10)).astype("float32")
    y, t = rng.integers(0, 10, 9), rng.integers(0, 10, 9)
    s = -np.sort(-z, axis=1)
    other = np.array([np.max(np.delete(row, k)) for row, k in zip(z, y)])
    ref = -(z[np.arange(9), y] - other) / (s[:, 0] - s[:, 2] + 1e-12)
    np.testing.assert_allclose(dlr_loss(tf.constant(z), tf.constant(y)), ref, rtol=1e-5)
    rows = np.arange(9)
    ref_t = -(z[rows, y] - z[rows, t]) / (s[:, 0] - 0.5 * (s[:, 2] + s[:, 3]) + 1e-12)
    np.testing.assert_allclose(
        dlr_targeted_loss(tf.constant(z), tf.constant(y), tf.constant(t)), ref_t, rtol=1e-5
    )


def test_checkpoints_follow_autoattack():
    # p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) (Croce & Hein).
    assert checkpoints(100) == [21, 40, 56, 69, 79, 86, 92, 98]
    assert checkpoints(10) == list(range(1, 10))


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"eps": 0}, "eps"),
        ({"nb_iter": 0}, "nb_iter"),
        ({"loss": "mse"}, "loss"),
        ({"targeted": "yes"}, "targeted"),
        ({"n_restarts": 1.5}, "n_restarts"),
        ({"rho": 1.5}, "rho"),
        ({"seed": 0.5}, "seed"),
        ({"steps": 3}, "unknown setting"),
    ],
)
def test_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        APGD(lambda t: t, **settings)


def test_too_many_target_classes_is_a_clear_error(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="n_target_classes"):
        APGD(model, eps=0.1, targeted=True, n_target_classes=10).generate(x[:2], y[:2])
