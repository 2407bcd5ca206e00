"""The L2 and L1 projections of the compiled attacks against float64 NumPy references
written independently (the L1 one by bisection on the soft-threshold level), on random
inputs including points already inside, and the per-norm eps checks."""

import numpy as np
import pytest
import tensorflow as tf

from keras_rbf.attacks import APGD
from keras_rbf.attacks.apgd import l1_project, l1_projection, l2_project
from keras_rbf.attacks.base import NORMS, check_eps


def _l2_reference(x, z, eps):
    """AutoAttack's L2 step projection in float64: scale `z - x` into the ball, clip."""
    d = (z - x).reshape(len(x), -1)
    norm = np.sqrt(np.sum(d**2, axis=1, keepdims=True))
    scaled = d / (norm + 1e-12) * np.minimum(eps, norm)
    return np.clip(x.reshape(len(x), -1) + scaled, 0.0, 1.0).reshape(x.shape)


def _l1_box_reference(x, z, eps):
    """The nearest point to `z` in {v : ||v - x||_1 <= eps, 0 <= v <= 1}, float64.

    By the KKT conditions each coordinate of `d = v - x` is `sign(y) clip(|y| - lam, 0,
    room)` with `y = z - x` and `room` how far the box lets `x` move along `sign(y)`;
    `lam = 0` if that already fits the ball, else the level where the L1 norm is eps,
    found by bisection (the norm falls monotonically in `lam`).
    """
    out = np.empty((len(x), x[0].size), np.float64)
    for i, (xi, zi) in enumerate(zip(x.reshape(len(x), -1), z.reshape(len(z), -1))):
        xi, yi = xi.astype(np.float64), (zi.astype(np.float64) - xi)
        room = np.where(yi > 0, 1.0 - xi, xi)

        def size(lam, yi=yi, room=room):
            return np.clip(np.abs(yi) - lam, 0.0, room)

        if size(0.0).sum() <= eps:
            lam = 0.0
        else:
            lo, hi = 0.0, np.abs(yi).max()
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if size(mid).sum() > eps else (lo, mid)
            lam = hi
        out[i] = xi + np.sign(yi) * size(lam)
    return out.reshape(x.shape)


def _assert_close_l1(x, z, ours, ref, eps):
    """Equal up to float32 rounding: the port's cumulative sums over the 2 d breakpoints
    carry errors of about 1e-7 of the L1 norms involved."""
    scale = np.abs(z - x).reshape(len(x), -1).sum(axis=1) + eps
    err = np.abs(ours - ref).reshape(len(x), -1).max(axis=1)
    assert np.all(err <= 5e-7 * scale + 1e-6), (err, scale)


def _cases(seed, n=24, shape=(6, 6, 2)):
    """Centres in [0, 1] (with some at 0 and 1) and targets at several distances."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, *shape))
    x[:4] = np.round(x[:4])  # on the box's corners
    scale = rng.choice([0.01, 0.1, 0.5, 2.0], size=(n,) + (1,) * len(shape))
    z = x + scale * rng.normal(size=x.shape)
    z[-3:] = x[-3:]  # no perturbation at all
    return x.astype(np.float32), z.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.05, 0.5, 3.0])
def test_l2_projection_matches_numpy(seed, eps):
    x, z = _cases(seed)
    ours = l2_project(tf.constant(x), tf.constant(z), tf.constant(eps)).numpy()
    np.testing.assert_allclose(ours, _l2_reference(x, z, eps), atol=2e-6)
    norms = np.sqrt(np.sum((ours - x).reshape(len(x), -1) ** 2, axis=1))
    assert np.all(norms <= eps * (1 + 1e-5)) and ours.min() >= 0.0 and ours.max() <= 1.0
    # Points inside the ball and the box do not move.
    inside = np.sqrt(np.sum((z - x).reshape(len(x), -1) ** 2, axis=1)) <= eps
    inside &= np.all((z >= 0) & (z <= 1), axis=(1, 2, 3))
    assert inside.any()
    np.testing.assert_allclose(ours[inside], z[inside], atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.1, 1.0, 5.0, 40.0])
def test_l1_projection_matches_numpy(seed, eps):
    x, z = _cases(seed)
    ref = _l1_box_reference(x, z, eps)
    delta = l1_projection(tf.constant(x), tf.constant(z - x), tf.constant(eps)).numpy()
    _assert_close_l1(x, z, x + (z - x) + delta, ref, eps)
    ours = l1_project(tf.constant(x), tf.constant(z), tf.constant(eps)).numpy()
    _assert_close_l1(x, z, ours, ref, eps)
    norms = np.abs(ours - x).reshape(len(x), -1).sum(axis=1)
    assert np.all(norms <= eps * (1 + 1e-5)) and ours.min() >= 0.0 and ours.max() <= 1.0
    inside = (np.abs(z - x).reshape(len(x), -1).sum(axis=1) <= eps) & np.all(
        (z >= 0) & (z <= 1), axis=(1, 2, 3)
    )
    assert inside.any()
    np.testing.assert_allclose(ours[inside], z[inside], atol=1e-6)


def test_l1_projection_on_mnist_sized_images_with_a_large_overshoot():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (5, 28, 28, 1)).astype(np.float32)
    x[:, :5] = 0.0  # MNIST's black border: no room below
    z = (x + rng.normal(size=x.shape)).astype(np.float32)
    ours = l1_project(tf.constant(x), tf.constant(z), tf.constant(10.0)).numpy()
    _assert_close_l1(x, z, ours, _l1_box_reference(x, z, 10.0), 10.0)
    norms = np.abs(ours - x).reshape(len(x), -1).sum(axis=1)
    assert np.all(norms <= 10.0 * (1 + 1e-5))


def test_check_eps_bounds_per_norm():
    owner = APGD(lambda t: t)
    assert NORMS == ("Linf", "L2", "L1")
    check_eps(owner, "Linf", 1.0)
    check_eps(owner, "L2", 28.0, dim=784)
    check_eps(owner, "L1", 784, dim=784)
    check_eps(owner, "L2", 1e3)  # the image size is not known yet
    for norm, eps, match in [
        ("Linf", 1.5, r"\(0, 1\] for norm 'Linf'"),
        ("L2", 28.1, r"\(0, sqrt\(784\) = 28\] for norm 'L2'"),
        ("L1", 785, r"\(0, 784\] for norm 'L1'"),
        ("L2", 0.0, "positive"),
        ("L2", -1.0, "positive"),
    ]:
        with pytest.raises(ValueError, match=match) as err:
            check_eps(owner, norm, eps, dim=784)
        assert str(err.value).startswith("APGD: eps") and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="norm must be one of Linf, L2, L1, got 'l2'"):
        check_eps(owner, "l2", 1.0)
