"""L1 BIM (exact L1-ball projection, sparse L1 steps) and the CleverHans L-inf BIM attack."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_rbf.attacks.l1_bim import L1BIM, LinfBIM, l1_direction, project_l1_ball


def _project_reference(v, eps):
    """Projection onto the L1 ball by bisection on the threshold (float64, independent)."""
    if np.abs(v).sum() <= eps:
        return v
    lo, hi = 0.0, np.abs(v).max()
    for _ in range(200):
        theta = 0.5 * (lo + hi)
        if np.maximum(np.abs(v) - theta, 0).sum() > eps:
            lo = theta
        else:
            hi = theta
    return np.sign(v) * np.maximum(np.abs(v) - 0.5 * (lo + hi), 0)


def test_project_l1_ball_matches_bisection():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5, 4, 3, 2))
    v[4] *= 0.01  # already inside the ball: unchanged
    out = project_l1_ball(tf.constant(v), 2.5).numpy()
    for i in range(5):
        ref = _project_reference(v[i].ravel(), 2.5).reshape(v[i].shape)
        np.testing.assert_allclose(out[i], ref, atol=1e-10)
    np.testing.assert_array_equal(out[4], v[4])
    assert np.abs(out[:4]).reshape(4, -1).sum(1) == pytest.approx([2.5] * 4)


def test_l1_direction_sparse_and_cleverhans_limit():
    from cleverhans.tf2.utils import optimize_linear

    rng = np.random.default_rng(1)
    g = rng.normal(size=(3, 10, 10, 1)).astype("float32")
    d = l1_direction(tf.constant(g), sparsity=0.9).numpy()
    flat, gflat = d.reshape(3, -1), g.reshape(3, -1)
    assert np.allclose(np.abs(flat).sum(1), 1.0)
    assert ((flat != 0).sum(1) == 10).all()
    top = np.argsort(-np.abs(gflat), axis=1)[:, :10]
    for i in range(3):
        assert set(np.flatnonzero(flat[i])) == set(top[i])
        assert np.all(np.sign(flat[i][top[i]]) == np.sign(gflat[i][top[i]]))
    # sparsity 1: only the largest coordinate, = CleverHans's norm=1 FGM step / eps.
    one = l1_direction(tf.constant(g), sparsity=1.0).numpy()
    np.testing.assert_allclose(one, optimize_linear(tf.constant(g), 1.0, norm=1).numpy(), atol=1e-7)


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    x = np.random.default_rng(2).uniform(size=(6, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 0, 1, 0, 1])
    return model, x, y


def _loss(model, x, y):
    return float(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x))))


def test_l1_bim_bounds_and_loss(tiny_model):
    model, x, y = tiny_model
    adv = L1BIM(model, eps=2.0, eps_iter=0.8, nb_iter=5, sparsity=0.9).generate(x, y)
    l1 = np.abs(adv - x).reshape(len(x), -1).sum(1)
    assert np.all(l1 <= 2.0 + 1e-4) and l1.max() > 1.0
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert _loss(model, adv, y) > _loss(model, x, y) + 1e-3
    one = L1BIM(model, eps=2.0, eps_iter=0.8, nb_iter=1).generate(x, y)
    assert _loss(model, adv, y) >= _loss(model, one, y) - 1e-6
    with pytest.raises(ValueError, match="eps"):
        L1BIM(model, eps=0.0, eps_iter=0.1)


def test_linf_bim_bounds_and_loss(tiny_model):
    model, x, y = tiny_model
    adv = LinfBIM(model, eps=0.05, eps_iter=0.02, nb_iter=5).generate(x, y)
    assert np.abs(adv - x).max() <= 0.05 + 1e-6 and np.abs(adv - x).max() > 0.04
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert _loss(model, adv, y) > _loss(model, x, y) + 1e-3
    with pytest.raises(ValueError, match="eps_iter"):
        LinfBIM(model, eps=0.01, eps_iter=0.02)
