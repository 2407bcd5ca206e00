"""APGD's L2 and L1 threat models: L2 against ART's AutoProjectedGradientDescent
(norm=2), L1 against Foolbox's L1 attacks (SLIDE and L1-FMN), every returned image in
its ball and in [0, 1], and the settings. The Linf results are guarded by test_apgd.py,
which runs unchanged."""

import numpy as np
import pytest
from attack_models import art_classifier, check_inside, mnist_test, robust, trained_cnn

from keras_rbf.attacks import APGD, APGDCE, APGDT
from keras_rbf.attacks.apgd import l1_checkpoints, largereps_schedule
from keras_rbf.attacks.base import _COMPILED


@pytest.fixture(scope="module")
def setup():
    model = trained_cnn()
    x, y = mnist_test(100)
    return model, x, y


def _art_apgd_l2(model, x, y, eps, nb_iter=100):
    from art.attacks.evasion import AutoProjectedGradientDescent

    attack = AutoProjectedGradientDescent(
        art_classifier(model),
        norm=2,
        eps=eps,
        eps_step=2 * eps,
        max_iter=nb_iter,
        nb_random_init=1,
        batch_size=len(x),
        loss_type="cross_entropy",
        verbose=False,
    )
    np.random.seed(0)  # ART's random start draws from NumPy's global generator
    return attack.generate(x, y)


def _compare_l2_with_art(model, x, y, eps, tolerance):
    x_adv, broken = APGDCE(model, norm="L2", eps=eps).attack(x, y)
    check_inside(model, x, y, x_adv, broken, "L2", eps)
    ours = 1.0 - broken.mean()
    art = robust(model, _art_apgd_l2(model, x, y, eps), y).mean()
    assert ours < robust(model, x, y).mean() - 0.3  # the attack does something here
    # Ours counts a break at any iterate, ART only at the last: at least as strong, and
    # close (same algorithm), up to the noise of n images.
    print(f"APGD-CE L2 eps {eps}, n = {len(x)}: ours {ours:.3f}, ART {art:.3f}")
    assert ours <= art + tolerance / 2, (ours, art)
    assert abs(ours - art) <= tolerance, (ours, art)


def test_apgd_l2_matches_art(setup):
    model, x, y = setup
    _compare_l2_with_art(model, x, y, eps=1.0, tolerance=0.08)


@pytest.mark.slow
def test_apgd_l2_matches_art_on_more_images():
    model = trained_cnn()
    x, y = mnist_test(1000)
    _compare_l2_with_art(model, x, y, eps=1.0, tolerance=0.03)


def _foolbox_l1(model, x, y, eps):
    """Per image: does the model resist both of Foolbox's L1 attacks at eps?"""
    import foolbox as fb
    import tensorflow as tf

    fmodel = fb.TensorFlowModel(lambda t: model(t, training=False), bounds=(0.0, 1.0))
    stands = robust(model, x, y)
    for attack in (
        fb.attacks.SparseL1DescentAttack(steps=100, random_start=True),
        fb.attacks.L1FMNAttack(steps=100),
    ):
        _, clipped, _ = attack(fmodel, tf.constant(x), tf.constant(y, tf.int64), epsilons=[eps])
        adv = clipped[0].numpy()
        assert np.all(np.abs(adv - x).reshape(len(x), -1).sum(1) <= eps * (1 + 1e-5))
        stands &= robust(model, adv, y)
    return stands.mean()


def test_apgd_l1_is_at_least_as_strong_as_foolbox(setup):
    model, x, y = setup
    eps = 5.0
    x_adv, broken = APGDCE(model, norm="L1", eps=eps).attack(x, y)
    check_inside(model, x, y, x_adv, broken, "L1", eps)
    ours = 1.0 - broken.mean()
    theirs = _foolbox_l1(model, x, y, eps)
    assert ours < robust(model, x, y).mean() - 0.2
    assert ours <= theirs + 0.03, (ours, theirs)


@pytest.mark.parametrize(
    "settings",
    [
        {"norm": "L2", "eps": 1.5},
        {"norm": "L2", "eps": 1.0, "loss": "dlr", "targeted": True, "n_target_classes": 2},
        {"norm": "L1", "eps": 8.0, "loss": "dlr"},
        {"norm": "L1", "eps": 8.0, "use_largereps": True, "n_restarts": 2},
        {"norm": "L1", "eps": 3.0, "loss": "dlr", "targeted": True, "n_target_classes": 2},
    ],
)
def test_returned_images_lie_in_the_ball_and_the_box(setup, settings):
    model, x, y = setup
    x, y = x[:30], y[:30]
    x_adv, broken = APGD(model, nb_iter=20, **settings).attack(x, y)
    check_inside(model, x, y, x_adv, broken, settings["norm"], settings["eps"])
    assert broken.mean() > 1.0 - robust(model, x, y).mean()  # it broke some images


def test_batch_size_and_order_do_not_change_l1_and_l2_results(setup):
    model, x, y = setup
    x, y = x[:20], y[:20]
    perm = np.random.default_rng(0).permutation(len(x))
    for norm, eps in (("L2", 1.0), ("L1", 5.0)):
        a = APGD(model, norm=norm, eps=eps, nb_iter=10, batch_size=6).generate(x, y)
        b = APGD(model, norm=norm, eps=eps, nb_iter=10, batch_size=20).generate(x, y)
        c = APGD(model, norm=norm, eps=eps, nb_iter=10).generate(x[perm], y[perm])
        np.testing.assert_allclose(a, b, atol=1e-6)
        np.testing.assert_allclose(c, b[perm], atol=1e-6)


def test_the_compiled_step_is_cached_per_norm_not_per_length(setup):
    model, x, y = setup
    for norm, eps in (("Linf", 0.1), ("L2", 1.0), ("L1", 5.0)):
        APGD(model, norm=norm, eps=eps, nb_iter=5).attack(x[:4], y[:4])
    keys = {key for key in _COMPILED[model] if key[0] == "apgd"}
    assert {key[1] for key in keys} == {"Linf", "L2", "L1"}
    # The step count and eps are arguments of the compiled step, not part of its trace.
    APGD(model, norm="L2", eps=0.5, nb_iter=7).attack(x[:4], y[:4])
    assert {key for key in _COMPILED[model] if key[0] == "apgd"} == keys


def test_l1_schedules_follow_autoattack():
    # k = max(int(0.04 n_iter), 1), fixed (autopgd_base.py, norm 'L1').
    assert l1_checkpoints(100) == list(range(3, 100, 4))
    assert l1_checkpoints(20) == list(range(20))
    # use_largereps: 30 % at 3 eps, 30 % at 2 eps, the rest at eps.
    assert largereps_schedule(1.0, 100) == [(3.0, 30), (2.0, 30), (1.0, 40)]
    assert largereps_schedule(2.0, 10) == [(6.0, 3), (4.0, 3), (2.0, 4)]


def test_norm_is_a_setting_of_every_apgd():
    assert APGD.DEFAULTS["norm"] == "Linf" and not APGD.DEFAULTS["use_largereps"]
    assert APGDT(lambda t: t, norm="L1", eps=12.0).settings["norm"] == "L1"


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"norm": "L3"}, "norm must be one of Linf, L2, L1, got 'L3'"),
        ({"norm": "Linf", "eps": 2.0}, r"eps must lie in \(0, 1\] for norm 'Linf'"),
        ({"norm": "L2", "eps": 0.0}, "eps must be a positive number"),
        ({"use_largereps": True}, "use_largereps is for norm 'L1' only"),
        ({"norm": "L1", "eps": 5.0, "use_largereps": True, "nb_iter": 4}, "nb_iter >= 3"),
        ({"norm": "L1", "eps": 5.0, "use_largereps": 1}, "use_largereps must be True or False"),
    ],
)
def test_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        APGD(lambda t: t, **settings)


@pytest.mark.parametrize(
    "norm,eps,match",
    [("L2", 28.5, r"\(0, sqrt\(784\) = 28\] for norm 'L2'"), ("L1", 800.0, r"\(0, 784\]")],
)
def test_eps_beyond_the_largest_perturbation_is_refused_once_images_are_seen(
    setup, norm, eps, match
):
    model, x, y = setup
    with pytest.raises(ValueError, match=match):
        APGD(model, norm=norm, eps=eps).generate(x[:2], y[:2])
