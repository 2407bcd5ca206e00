"""Segmentation metrics (Dice, FPR, FNR) against hand-computed cases and float64 references."""

import numpy as np
import pytest

from keras_rbf.analysis.segmentation_metrics import (
    dice,
    false_negative_rate,
    false_positive_rate,
    masks_from_logits,
    scores,
    summarize,
)


def test_metrics_hand_computed():
    # Image 0: truth has 4 pixels, prediction 3 of them plus 1 background -> TP 3 FP 1 FN 1 TN 11.
    truth = np.zeros((3, 4, 4), "uint8")
    pred = np.zeros((3, 4, 4), "uint8")
    truth[0, 0, :4] = 1
    pred[0, 0, :3] = 1
    pred[0, 3, 3] = 1
    # Image 1: both empty -> Dice 1, FPR 0, FNR 0.  Image 2: all foreground truth, empty prediction.
    truth[2] = 1
    np.testing.assert_allclose(dice(pred, truth), [6 / 8, 1.0, 0.0])
    np.testing.assert_allclose(false_positive_rate(pred, truth), [1 / 12, 0.0, 0.0])
    np.testing.assert_allclose(false_negative_rate(pred, truth), [1 / 4, 0.0, 1.0])


def test_metrics_match_float64_reference_on_random_masks():
    rng = np.random.RandomState(3)
    pred = rng.rand(7, 9, 11) > 0.6
    truth = rng.rand(7, 9, 11) > 0.5
    for i in range(7):
        p, t = pred[i].ravel(), truth[i].ravel()
        tp, fp = np.sum(p & t), np.sum(p & ~t)
        fn, tn = np.sum(~p & t), np.sum(~p & ~t)
        assert dice(pred, truth)[i] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert false_positive_rate(pred, truth)[i] == pytest.approx(fp / (fp + tn))
        assert false_negative_rate(pred, truth)[i] == pytest.approx(fn / (fn + tp))


def test_summarize_is_mean_and_standard_error():
    values = [0.2, 0.4, 0.9, 0.5]
    out = summarize(values)
    assert out["mean"] == pytest.approx(0.5)
    assert out["se"] == pytest.approx(np.sqrt(np.sum((np.array(values) - 0.5) ** 2) / 3) / 2)
    assert out["n"] == 4
    assert summarize([0.7])["se"] == 0.0
    s = scores(np.ones((2, 3, 3), "uint8"), np.ones((2, 3, 3), "uint8"))
    assert s["dice"]["mean"] == 1.0 and s["fnr"]["mean"] == 0.0


def test_metrics_reject_bad_masks():
    with pytest.raises(ValueError, match="shape"):
        dice(np.zeros((2, 3, 3)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="binary"):
        dice(np.full((1, 2, 2), 2), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError):
        summarize([])


def test_masks_from_logits():
    logits = np.array([[[[2.0, 1.0], [0.0, 3.0]]]])  # (1, 1, 2, 2)
    np.testing.assert_array_equal(masks_from_logits(logits), [[[0, 1]]])
    np.testing.assert_array_equal(masks_from_logits(np.array([[[[-1.0], [0.5]]]])), [[[0, 1]]])
