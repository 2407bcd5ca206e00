"""`keras-rbf reproduce chest` end to end on a tiny fixture in the ChestX-ray14 layout.

Small network (75 x 75, one block per stage, RBF at the stem and after block35), each
model trained one step, one BIM iteration, no strong attack (tested below on a tiny
model): checks the pipeline, not the numbers.
"""

import json

import numpy as np

from keras_rbf.cli import main
from keras_rbf.datasets.chestxray14 import write_fixture


def test_reproduce_chest_end_to_end(tmp_path):
    data = write_fixture(tmp_path / "cxr14", negatives=12, positives=12, size=80)
    out = tmp_path / "report"
    rc = main(
        [
            "reproduce",
            "chest",
            "--data-dir",
            str(data),
            "--out-dir",
            str(out),
            "--image-size",
            "75",
            "--blocks",
            "1",
            "1",
            "1",
            "--rbf-placement",
            "stem",
            "block35",
            "--fraction",
            "0.0002",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "1",
            "--run-eagerly",
            "--nb-iter",
            "1",
            "--strong-iters",
            "0",
            "--batch-size",
            "4",
        ]
    )
    assert rc == 0
    report = json.loads((out / "table3.json").read_text())
    acc = report["accuracy"]
    assert set(acc) == {"clean", "l1_bim", "linf_bim", "strong_linf"}
    assert acc.pop("strong_linf") == {}  # --strong-iters 0 skips it
    for row in acc.values():
        assert set(row) == {"ORIG", "GDA", "FSM", "FSM (BPDA)", "PROP"}
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert report["data"]["n_test"] == 2 and report["data"]["n_test_positive"] == 1
    assert report["settings"]["nb_iter"] == 1
    assert report["settings"]["l1_eps"] == np.float64(0.005 * 75 * 75)
    assert report["models"]["GDA"]["history"]["gda_stddev"] == 0.1
    assert set(report["models"]["PROP"]["rbf_live_fraction_test"]) == {
        "rbf_stem_rbf",
        "rbf_block35_rbf",
    }
    assert any("not the paper's setting" in n for n in report["notes"])
    md = (out / "table3.md").read_text()
    assert "| L1 BIM" in md and "| Linf BIM" in md and "FSM (BPDA)" in md


def test_strong_pgd_and_bpda_on_tiny_model():
    import keras
    import tensorflow as tf

    from keras_rbf.defenses.squeezing import bit_depth_squeeze
    from keras_rbf.reports.chest import _bpda_squeeze, _strong_pgd

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(0).uniform(0.2, 0.8, size=(8, 6, 6, 1)).astype("float32")
    y = np.argmax(model(x).numpy(), axis=1)
    # A linear model is broken by a large L-inf budget, kept by a tiny one.
    assert _strong_pgd(model, model, x, y, 0.5, 5, 2, 4, seed=0).mean() == 0.0
    assert _strong_pgd(model, model, x, y, 1e-6, 2, 1, 4, seed=0).mean() == 1.0
    # BPDA: forward = squeezed input, backward = identity.
    sq = _bpda_squeeze(3)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = sq(xt)
        total = tf.reduce_sum(out * 2.0)
    np.testing.assert_allclose(out.numpy(), bit_depth_squeeze(x, 3).numpy(), atol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, xt).numpy(), 2.0)
