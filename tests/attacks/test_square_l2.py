"""Square's L2 threat model against ART's SquareAttack (norm=2) on the same model and
images, its pseudo-Gaussian pattern and starting grid against closed forms, and its
bounds. The Linf results are guarded by test_square.py, which runs unchanged."""

import numpy as np
import pytest
from attack_models import art_classifier, check_inside, mnist_test, robust, trained_cnn

from keras_rbf.attacks import Square
from keras_rbf.attacks.base import AttackInputError
from keras_rbf.attacks.square import l2_init, pseudo_gaussian_pert


@pytest.fixture(scope="module")
def setup():
    model = trained_cnn()
    x, y = mnist_test(100)
    return model, x, y


def _compare_with_art(model, x, y, eps, queries, tolerance):
    from art.attacks.evasion import SquareAttack

    x_adv, broken = Square(model, norm="L2", eps=eps, n_queries=queries).attack(x, y)
    check_inside(model, x, y, x_adv, broken, "L2", eps)
    art = SquareAttack(
        art_classifier(model),
        norm=2,
        eps=eps,
        max_iter=queries,
        nb_restarts=1,
        batch_size=len(x),
        verbose=False,
    )
    np.random.seed(0)  # ART draws from NumPy's global generator
    with np.errstate(divide="ignore", invalid="ignore"):  # ART's own 0/0 on empty windows
        art_acc = robust(model, art.generate(x, y), y).mean()
    ours = 1.0 - broken.mean()
    assert ours < robust(model, x, y).mean() - 0.2
    # ART's L2 update divides the new window by its budget where AutoAttack multiplies
    # (`delta_new /= norm * sqrt(budget)`), and draws one window per query for the whole
    # batch: ours, which follows AutoAttack, should be at least as strong, up to noise.
    print(f"Square L2 eps {eps}, n = {len(x)}: ours {ours:.3f}, ART {art_acc:.3f}")
    assert ours <= art_acc + tolerance, (ours, art_acc)
    return ours, art_acc


def test_square_l2_is_at_least_as_strong_as_art(setup):
    model, x, y = setup
    _compare_with_art(model, x, y, eps=1.5, queries=300, tolerance=0.05)


@pytest.mark.slow
def test_square_l2_is_at_least_as_strong_as_art_on_more_images():
    model = trained_cnn()
    x, y = mnist_test(500)
    _compare_with_art(model, x, y, eps=1.5, queries=1000, tolerance=0.02)


def test_pseudo_gaussian_pert_follows_its_closed_form():
    # Each half of eta(s) is sum_{k >= m} 1 / (k + 1)^2 over the squares around its centre
    # (m: the Chebyshev distance from it), normalised; top half +, bottom half -.
    for side in (1, 3, 5, 7, 28):
        eta = pseudo_gaussian_pert(side)
        assert eta.shape == (side, side)
        assert np.isclose(np.sum(eta.astype(np.float64) ** 2), 1.0, atol=1e-6)
        halves = [(eta[: side // 2], 1.0), (eta[side // 2 :], -1.0)]
        expected = []
        for half, sign in halves:
            rows, cols = half.shape
            if not rows:
                continue
            n_rings = max(rows // 2 + 1, cols // 2 + 1)
            i, j = np.indices((rows, cols))
            dist = np.maximum(np.abs(i - rows // 2), np.abs(j - cols // 2))
            weights = np.array(
                [sum(1 / (k + 1) ** 2 for k in range(m, n_rings)) for m in range(40)]
            )
            expected.append(sign * weights[dist] / np.sqrt(np.sum(weights[dist] ** 2)))
        expected = np.concatenate(expected)
        np.testing.assert_allclose(eta, expected / np.sqrt(np.sum(expected**2)), atol=1e-6)


def test_l2_start_is_autoattacks_grid_of_signed_blocks():
    rng = np.random.default_rng(0)
    delta = l2_init(28, 28, 3, rng)
    # Side 28 // 5 = 5, from offset (28 - 25) // 2 = 1: a 5 x 5 grid covering rows and
    # columns 1..25, each block +- the pattern (or its transpose), one sign per channel.
    support = np.any(delta != 0, axis=(1, 2)), np.any(delta != 0, axis=(0, 2))
    for axis in support:
        assert np.flatnonzero(axis).min() == 1 and np.flatnonzero(axis).max() == 25
    eta = pseudo_gaussian_pert(5)
    for top in range(1, 26, 5):
        for left in range(1, 26, 5):
            block = delta[top : top + 5, left : left + 5]
            for ch in range(3):
                b = block[:, :, ch]
                assert any(np.allclose(b, s * e) for s in (1, -1) for e in (eta, eta.T))
    # Images whose side AutoAttack's grid does not fit still get one (only whole blocks).
    assert np.any(l2_init(24, 30, 1, rng) != 0)


def test_l2_windows_are_odd_and_at_least_3(setup):
    model, _, _ = setup
    sides = Square(model, norm="L2", eps=1.0, n_queries=1000)._sides(28, 28, 1)
    assert np.all(sides % 2 == 1) and sides.min() >= 3 and sides.max() <= 28
    assert sides[0] == 25  # round(sqrt(0.8 * 784)) = 25


def test_batch_size_and_order_do_not_change_l2_results(setup):
    model, x, y = setup
    x, y = x[:16], y[:16]
    a = Square(model, norm="L2", eps=1.0, n_queries=40, batch_size=5).generate(x, y)
    b = Square(model, norm="L2", eps=1.0, n_queries=40, batch_size=16).generate(x, y)
    np.testing.assert_allclose(a, b, atol=1e-6)
    perm = np.random.default_rng(1).permutation(len(x))
    c = Square(model, norm="L2", eps=1.0, n_queries=40).generate(x[perm], y[perm])
    np.testing.assert_allclose(c, b[perm], atol=1e-6)


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"norm": "L1", "eps": 5.0}, "norm must be one of Linf, L2 .no L1 version here."),
        ({"norm": "Linf", "eps": 1.5}, r"eps must lie in \(0, 1\]"),
        ({"norm": "l2"}, "norm must be one of Linf, L2, L1"),
    ],
)
def test_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        Square(lambda t: t, **settings)


def test_l2_needs_images_of_at_least_5_pixels_and_a_feasible_eps(setup):
    model, x, y = setup
    with pytest.raises(AttackInputError, match="at least 5 x 5"):
        Square(lambda t: t, norm="L2", eps=1.0).generate(np.zeros((1, 4, 4, 1)), [0])
    with pytest.raises(ValueError, match=r"sqrt\(784\)"):
        Square(model, norm="L2", eps=30.0).generate(x[:2], y[:2])
