"""Compiled Square attack against ART's SquareAttack on the same model and images, plus
its schedule, bounds, dropping of broken images and batch-size independence."""

import numpy as np
import pytest
from attack_models import Counting, art_classifier, mnist_test, robust, trained_cnn

from keras_rbf.attacks import Square
from keras_rbf.attacks.base import AttackInputError
from keras_rbf.attacks.square import margin, p_selection


@pytest.fixture(scope="module")
def setup():
    model = trained_cnn()
    x, y = mnist_test(100)
    return model, x, y


def test_square_is_at_least_as_strong_as_art(setup):
    from art.attacks.evasion import SquareAttack

    model, x, y = setup
    eps, queries = 0.1, 300
    x_adv, broken = Square(model, eps=eps, n_queries=queries).attack(x, y)
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    np.testing.assert_array_equal(robust(model, x_adv, y), ~broken)
    art = SquareAttack(
        art_classifier(model),
        norm=np.inf,
        eps=eps,
        max_iter=queries,
        nb_restarts=1,
        batch_size=len(x),
        verbose=False,
    )
    np.random.seed(0)  # ART draws from NumPy's global generator
    art_acc = robust(model, art.generate(x, y), y).mean()
    ours = 1.0 - broken.mean()
    assert ours < robust(model, x, y).mean() - 0.3
    # ART draws one window per query for the whole batch, ours one per image: ours
    # should be at least as strong, up to the noise of 100 images.
    assert ours <= art_acc + 0.05, (ours, art_acc)


def test_only_standing_images_are_queried(setup):
    model, x, y = setup
    counting = Counting(model)
    queries = 200
    _, broken = Square(counting, eps=0.3, n_queries=queries).attack(x, y)
    assert broken.mean() > 0.9
    assert int(counting.images.numpy()) < 0.2 * len(x) * (queries + 1)


def test_batch_size_and_order_do_not_change_results(setup):
    model, x, y = setup
    x, y = x[:24], y[:24]
    a = Square(model, eps=0.1, n_queries=50, batch_size=5).generate(x, y)
    b = Square(model, eps=0.1, n_queries=50, batch_size=24).generate(x, y)
    np.testing.assert_array_equal(robust(model, a, y), robust(model, b, y))
    np.testing.assert_allclose(a, b, atol=1e-6)
    perm = np.random.default_rng(1).permutation(len(x))
    c = Square(model, eps=0.1, n_queries=50).generate(x[perm], y[perm])
    np.testing.assert_allclose(c, b[perm], atol=1e-6)


def test_the_margin_decreases_monotonically_with_queries(setup):
    model, x, y = setup
    x, y = x[:20], y[:20]
    # Without rescaling the schedule, the 100-query run starts with the 10-query run.
    m = {
        q: margin(
            model(Square(model, eps=0.05, n_queries=q, rescale_schedule=False).generate(x, y)), y
        ).numpy()
        for q in (10, 100)
    }
    standing = m[100] > 0
    assert np.all(m[100][standing] <= m[10][standing] + 1e-5)


def test_p_schedule_follows_autoattack():
    assert p_selection(0.8, 0, 10000) == 0.8
    assert p_selection(0.8, 11, 10000) == 0.4
    assert p_selection(0.8, 600, 10000) == 0.8 / 16
    assert p_selection(0.8, 9000, 10000) == 0.8 / 512
    # Rescaled: 1,000 queries run through the same stages as 10,000.
    assert p_selection(0.8, 60, 1000) == p_selection(0.8, 600, 10000)
    assert p_selection(0.8, 600, 5000, rescale=False) == 0.8 / 16


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"eps": -1}, "eps"),
        ({"n_queries": 0}, "n_queries"),
        ({"p_init": 1.5}, "p_init"),
        ({"rescale_schedule": 1}, "rescale_schedule"),
        ({"seed": "a"}, "seed"),
    ],
)
def test_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        Square(lambda t: t, **settings)


def test_square_needs_images(setup):
    model, _, _ = setup
    with pytest.raises(AttackInputError, match="H, W, C"):
        Square(model, eps=0.1).generate(np.zeros((2, 784), np.float32), np.zeros(2, int))
