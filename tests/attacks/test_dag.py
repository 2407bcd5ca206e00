"""The DAG attack against hand computations and a NumPy reference on random linear models."""

import keras
import numpy as np
import pytest

from keras_rbf.attacks.dag import DAG, adversarial_targets


def dag(model, images, labels, targets=None, record_at=(), **settings):
    """A DAG run through the attack object (the tests below predate it)."""
    return DAG(model, **settings).run(images, labels, targets=targets, record_at=record_at)


def _linear_model(weights, bias):
    """1x1 conv: logits[c] = sum_i weights[i, c] x_i + bias[c] at every pixel."""
    weights = np.asarray(weights, "float32")
    inp = keras.Input((None, None, weights.shape[0]))
    conv = keras.layers.Conv2D(weights.shape[1], 1)
    model = keras.Model(inp, conv(inp))
    conv.set_weights([weights.reshape(1, 1, *weights.shape), np.asarray(bias, "float32")])
    return model


def test_dag_on_linear_model_matches_hand_computation():
    # Class 1 iff x > 0.5 (z0 = 0, z1 = x - 0.5). d(z_adv - z_true)/dx = +1 for label-0
    # pixels and -1 for label-1 pixels, so ||g||_inf = 1 and each correct pixel moves by
    # 0.03 per iteration towards the other side, and stops once it has crossed 0.5.
    model = _linear_model([[0.0, 1.0]], [0.0, -0.5])
    x = np.array([0.40, 0.45, 0.60, 0.10, 0.81], "float32").reshape(1, 1, 5, 1)
    y = np.array([0, 0, 1, 0, 1]).reshape(1, 1, 5)
    res = dag(model, x, y, gamma=0.03, iterations=10, record_at=(2, 10), clip=None)
    # Steps to flip: 0.40 -> 4 (0.52); 0.45 -> 2 (0.51); 0.60 -> 4 (0.48);
    # 0.10 -> 14 (> 10: moves 10 steps to 0.40); 0.81 -> 11 (> 10: moves 10 steps to 0.51).
    expected = np.array([0.52, 0.51, 0.48, 0.40, 0.51]).reshape(1, 1, 5, 1)
    np.testing.assert_allclose(res.adversarial, expected, atol=1e-5)
    np.testing.assert_allclose(
        res.snapshots[2], np.array([0.46, 0.51, 0.54, 0.16, 0.75]).reshape(1, 1, 5, 1), atol=1e-5
    )
    assert res.iterations_run.tolist() == [10]
    assert res.correct_fraction[0] == pytest.approx(2 / 5)  # the 0.10 and 0.81 pixels survive


def test_dag_stops_when_no_pixel_is_correct_and_scales_by_inf_norm():
    # Two input channels: z1 - z0 = 1.0 * x0 + 0.5 * x1 - 0.5. For a label-0 pixel,
    # g = (1.0, 0.5), ||g||_inf = 1: channel 0 moves 0.03, channel 1 0.015 per step,
    # the margin grows by 0.03 + 0.0075 = 0.0375 per step.
    model = _linear_model([[-0.5, 0.5], [-0.25, 0.25]], [0.25, -0.25])
    x = np.array([[0.2, 0.2], [0.3, 0.2]], "float32").reshape(2, 1, 1, 2)
    y = np.zeros((2, 1, 1), "int64")
    # Margins -0.2 and -0.1: need ceil(0.2/0.0375) = 6 and ceil(0.1/0.0375) = 3 steps.
    res = dag(model, x, y, gamma=0.03, iterations=30, record_at=(30,), clip=None)
    assert res.iterations_run.tolist() == [6, 3]
    np.testing.assert_allclose(
        res.adversarial[0, 0, 0], [0.2 + 6 * 0.03, 0.2 + 6 * 0.015], atol=1e-5
    )
    np.testing.assert_allclose(
        res.adversarial[1, 0, 0], [0.3 + 3 * 0.03, 0.2 + 3 * 0.015], atol=1e-5
    )
    np.testing.assert_allclose(res.snapshots[30], res.adversarial)
    assert np.all(res.correct_fraction == 0)


def test_dag_clips_and_matches_numpy_reference_on_random_linear_model():
    rng = np.random.RandomState(0)
    w, b = rng.randn(3, 2), rng.randn(2) * 0.1
    model = _linear_model(w, b)
    x = rng.rand(2, 4, 5, 3).astype("float32")
    y = (rng.rand(2, 4, 5) > 0.5).astype("int32")
    res = dag(model, x, y, gamma=0.03, iterations=7, clip=(0.0, 1.0))
    # float64 NumPy reference of the same algorithm.
    ref = x.astype("float64")
    d = w[:, 1] - w[:, 0]
    for i in range(2):
        for _ in range(7):
            z = ref[i] @ w + b
            correct = np.argmax(z, -1) == y[i]
            if not correct.any():
                break
            sign = np.where(y[i] == 0, 1.0, -1.0) * correct
            g = sign[..., None] * d
            ref[i] = np.clip(ref[i] + 0.03 * g / np.abs(g).max(), 0, 1)
    np.testing.assert_allclose(res.adversarial, ref, atol=1e-5)
    assert res.adversarial.min() >= 0 and res.adversarial.max() <= 1


def test_dag_validates_arguments_and_targets():
    model = _linear_model([[0.0, 1.0]], [0.0, -0.5])
    x = np.full((1, 2, 2, 1), 0.3, "float32")
    with pytest.raises(ValueError, match="labels"):
        dag(model, x, np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="record_at"):
        dag(model, x, np.zeros((1, 2, 2)), iterations=3, record_at=(5,))
    with pytest.raises(ValueError, match="differ"):
        dag(model, x, np.zeros((1, 2, 2)), targets=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="gamma"):
        DAG(model, gamma=0.0)
    x_adv = DAG(model, iterations=2).generate(x, np.zeros((1, 2, 2)))
    np.testing.assert_allclose(x_adv, dag(model, x, np.zeros((1, 2, 2)), iterations=2).adversarial)
    labels = np.random.RandomState(1).randint(0, 4, size=(3, 5, 5))
    t = adversarial_targets(labels, 4, seed=2)
    assert np.all(t != labels) and t.min() >= 0 and t.max() < 4
    np.testing.assert_array_equal(adversarial_targets(labels % 2, 2), 1 - labels % 2)
