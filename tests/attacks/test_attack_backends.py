"""APGD, Square, the suite and `keras-rbf audit` on the JAX and PyTorch backends.

A child process per backend (KERAS_BACKEND=jax, torch) attacks the zoo's `cnn_mnist`
with APGD (L-inf, L2, L1) and Square (L-inf, L2), and runs `keras-rbf audit` on it; this
(TensorFlow) process runs the same attacks and checks the child's results with its own
model: every image the child counts as broken is misclassified here too and lies in the
ball, and the robust accuracies agree (the attacks' paths differ only by float rounding,
which can flip a borderline image).
"""

from __future__ import annotations

import json

import numpy as np

N = 32
# (attack, settings): short runs, radii where some images stand and some fall.
RUNS = (
    ("apgd-ce", {"norm": "Linf", "eps": 0.1, "nb_iter": 20}),
    ("apgd-dlr", {"norm": "L2", "eps": 1.0, "nb_iter": 20}),
    ("apgd-ce", {"norm": "L1", "eps": 8.0, "nb_iter": 20}),
    ("square", {"norm": "Linf", "eps": 0.3, "n_queries": 100}),
    ("square", {"norm": "L2", "eps": 3.0, "n_queries": 100}),
)

CHILD = r"""
import json, sys
import numpy as np
import keras

assert keras.backend.backend() == sys.argv[2], keras.backend.backend()
import keras_rbf
from keras_rbf import attacks, cli
from keras_rbf.evaluate import load_test_split

x, y = load_test_split("mnist")
x, y = x[5000 : 5000 + int(sys.argv[3])], y[5000 : 5000 + int(sys.argv[3])]
model = keras_rbf.zoo.load("cnn_mnist")
out = {}
for i, (name, settings) in enumerate(json.loads(sys.argv[4])):
    adv, broken = attacks.make(name, model, **settings).attack(x, y)
    out[f"adv{i}"], out[f"broken{i}"] = adv, broken
np.savez(sys.argv[1], **out)
model.save("cnn_mnist.keras")
code = cli.main(["audit", "cnn_mnist.keras", "--data", "mnist", "--n-test", "16",
                 "--eps", "0.1", "--out-dir", "audit"])
assert code == 0, code
"""


def test_attacks_and_audit_agree_with_tensorflow(other_backend, tmp_path, run_python):
    backend = other_backend

    import keras_rbf
    from keras_rbf import attacks
    from keras_rbf.attacks.base import lp_norms
    from keras_rbf.evaluate import load_test_split

    run_python(
        CHILD,
        tmp_path / "out.npz",
        backend,
        str(N),
        json.dumps(RUNS),
        cwd=tmp_path,
        timeout=600,
        KERAS_BACKEND=backend,
        JAX_PLATFORMS="cpu",
    )
    got = np.load(tmp_path / "out.npz")
    x, y = load_test_split("mnist")
    x, y = x[5000 : 5000 + N], y[5000 : 5000 + N]
    model = keras_rbf.zoo.load("cnn_mnist")
    for i, (name, settings) in enumerate(RUNS):
        adv, broken = got[f"adv{i}"], got[f"broken{i}"]
        delta = (adv - x).reshape(N, -1)
        assert (lp_norms(delta, settings["norm"], np.float64) <= settings["eps"] * 1.0001).all()
        assert adv.min() >= 0.0 and adv.max() <= 1.0
        wrong = np.argmax(model.predict(adv, verbose=0), -1) != y
        assert broken.any() and wrong[broken].mean() >= 1 - 1 / N, (name, settings)
        _, ours = attacks.make(name, model, **settings).attack(x, y)
        assert 0 < ours.sum() < N, (name, settings)  # a run where the count can differ
        assert abs(int(broken.sum()) - int(ours.sum())) <= 2, (name, settings, broken, ours)
    result = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert result["n_test"] == 16
    assert set(result["seconds"]["cnn_mnist"]["strong_linf_0.1"]) == {
        "apgd-ce",
        "apgd-dlr",
        "square",
    }
    # The same suite on the audit's images, here on TensorFlow.
    x_all, y_all = load_test_split("mnist")
    idx = np.asarray(result["test_indices"])
    here = attacks.StrongSuite(model, eps=0.1).run(x_all[idx], y_all[idx])
    there = result["models"]["cnn_mnist"]["strong_linf_0.1"]
    assert 0 < here.robust.mean() < 1
    assert abs(there - here.robust.mean()) <= 2 / 16, (there, here.components)
    analysis = json.loads((tmp_path / "audit" / "analysis.json").read_text())
    assert "checklist left out" in json.dumps(analysis)
