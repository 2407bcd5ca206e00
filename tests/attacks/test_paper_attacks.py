"""The paper's attacks (CleverHans / Foolbox engines): bounds, the Keras 3 work-arounds,
the one interface (`make`, `ATTACKS`, settings validation), input checks."""

import numpy as np
import pytest
import tensorflow as tf
from attack_models import Counting, mnist_test, robust, trained_cnn

from keras_rbf import attacks
from keras_rbf.attacks import PAPER_SETTINGS


@pytest.fixture(scope="module")
def model_and_data():
    model = trained_cnn()
    x, y = mnist_test(16)
    keep = robust(model, x, y)  # attack images the model gets right
    return model, x[keep], y[keep]


@pytest.mark.parametrize("name,eps", [("fgsm", 0.3), ("bim", 0.3), ("mim", 0.3), ("pgd", 0.1)])
def test_linf_attacks_stay_in_the_ball_and_image_range_and_hurt(model_and_data, name, eps):
    model, x, y = model_and_data
    attack = attacks.make(name, model)
    assert attack.settings["eps"] == eps == PAPER_SETTINGS[name]["eps"]
    adv = attack.generate(x, y)
    assert adv.shape == x.shape and adv.dtype == np.float32
    assert np.abs(adv - x).max() <= eps + 1e-5
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert robust(model, adv, y).mean() < robust(model, x, y).mean()


def test_pgd_seed_makes_runs_repeatable(model_and_data):
    model, x, y = model_and_data
    a = attacks.PGD(model, eps=0.1, nb_iter=3, seed=4).generate(x, y)
    b = attacks.PGD(model, eps=0.1, nb_iter=3, seed=4).generate(x, y)
    c = attacks.PGD(model, eps=0.1, nb_iter=3, seed=5).generate(x, y)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_cw_fix_matters(model_and_data):
    """Vanilla CleverHans C&W under Keras 3 zeroes its own learning rate and returns the
    inputs; the wrapper's C&W breaks the model with small L2 perturbations."""
    from cleverhans.tf2.attacks.carlini_wagner_l2 import CarliniWagnerL2

    model, x, y = model_and_data
    x, y = x[:6], y[:6]
    settings = PAPER_SETTINGS["cw"]
    vanilla = CarliniWagnerL2(
        lambda t: model(t),
        batch_size=len(x),
        abort_early=False,
        **{
            k: settings[k]
            for k in ("binary_search_steps", "max_iterations", "initial_const", "learning_rate")
        },
    )
    try:
        vanilla.optimizer.variables()
    except TypeError:
        pass  # Keras 3: `variables` is a list, the call fails outright
    else:
        np.testing.assert_array_equal(vanilla.attack(x), x)
    adv = attacks.CarliniWagnerL2(model, batch_size=3).generate(x, y)  # two batches
    assert robust(model, adv, y).mean() <= 1 / 6
    l2 = np.sqrt(((adv - x) ** 2).sum(axis=(1, 2, 3)))
    assert 0.0 < np.median(l2) < 6.0


def test_spsa_learning_rate_is_applied(model_and_data):
    """CleverHans' SPSAAdam rejects `lr` under Keras 3; the wrapper's rate is real."""
    from cleverhans.tf2.attacks.spsa import SPSAAdam

    with pytest.raises(ValueError, match="lr"):
        SPSAAdam(lr=0.1)
    model, x, y = model_and_data
    advs = {}
    for lr in (0.0, 0.001, 0.1):
        tf.random.set_seed(0)  # same random start (CleverHans starts inside the eps-ball)
        advs[lr] = attacks.SPSA(
            model, learning_rate=lr, nb_iter=3, spsa_samples=32, stop_on_success=False
        ).generate(x[:1], y[:1])
    moves = {lr: np.abs(advs[lr] - advs[0.0]).mean() for lr in (0.001, 0.1)}
    assert moves[0.1] > 10 * moves[0.001] > 0.0


def test_spsa_stops_on_success(model_and_data):
    """With stop_on_success (the default) SPSA stops once the image is misclassified:
    fewer model calls, and the result is still misclassified."""
    model, x, y = model_and_data
    calls, advs = {}, {}
    for stop in (True, False):
        counting = Counting(model)
        tf.random.set_seed(0)
        advs[stop] = attacks.SPSA(
            counting, nb_iter=20, spsa_samples=32, stop_on_success=stop
        ).generate(x[:2], y[:2])
        calls[stop] = int(counting.images.numpy())
    assert not robust(model, advs[True], y[:2]).any()
    assert calls[True] < calls[False] / 2
    assert attacks.SPSA(model).settings["stop_on_success"] is True


def test_gaussian_noise_has_the_requested_l2_norm_before_clipping(model_and_data):
    model, x, y = model_and_data
    adv = attacks.GaussianNoise(model, eps=2.0).generate(x, y)
    l2 = np.sqrt(((adv - x) ** 2).sum(axis=(1, 2, 3)))
    assert np.all(l2 <= 2.0 + 1e-4) and np.all(l2 > 0.5)  # clipping to [0,1] only shrinks


def test_attacks_take_any_callable_and_make_builds_by_name(model_and_data):
    model, x, y = model_and_data
    fn = lambda t: model(t, training=False)  # noqa: E731
    np.testing.assert_allclose(attacks.FGSM(fn).generate(x, y), attacks.FGSM(model).generate(x, y))
    np.testing.assert_array_equal(
        attacks.BIM(model, nb_iter=2).generate(x, y),
        attacks.make("bim", model, nb_iter=2).generate(x, y),
    )


def test_every_named_attack_is_an_attack_class():
    assert set(attacks.ATTACKS) == {
        "fgsm",
        "bim",
        "mim",
        "pgd",
        "cw",
        "spsa",
        "gn",
        "apgd-ce",
        "apgd-dlr",
        "apgd-t",
        "fab-t",
        "square",
        "strong",
        "linf-bim",
        "l1-bim",
        "dag",
    }
    for cls in attacks.ATTACKS.values():
        assert issubclass(cls, attacks.Attack)


@pytest.mark.parametrize(
    "name,settings,match",
    [
        ("fgsm", {"eps": -0.1}, "eps"),
        ("bim", {"nb_iter": 0}, "nb_iter"),
        ("pgd", {"eps_iter": 0.0}, "eps_iter"),
        ("pgd", {"eps": 0.1, "eps_iter": 0.125}, "must not exceed eps"),
        ("cw", {"max_iterations": 2.5}, "max_iterations"),
        ("spsa", {"spsa_samples": 33}, "spsa_samples"),
        ("gn", {"eps": 0}, "eps"),
        ("mim", {"decay": 1.0}, "unknown setting"),
        ("linf-bim", {"eps_iter": 0.5}, "eps_iter"),
        ("l1-bim", {"sparsity": 2.0}, "sparsity"),
        ("pgd", {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_name_the_setting(name, settings, match):
    with pytest.raises(ValueError, match=match):
        attacks.make(name, lambda t: t, **settings)


def test_bad_requests_are_clear_errors(model_and_data):
    model, x, y = model_and_data
    with pytest.raises(ValueError, match="unknown attack"):
        attacks.make("deepfool", model)
    with pytest.raises(ValueError, match="labels"):
        attacks.FGSM(model).generate(x, y[:3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attacks.FGSM(model).generate(x * 255, y)
