"""`keras-rbf audit` on a Keras classifier the package never saw, and its error paths."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_rbf import audit, cli
from keras_rbf.evaluate import load_test_split

N = 40


@pytest.fixture(scope="module")
def data():
    """The images `audit --data mnist --n-test N` attacks: the reports' fixed sample."""
    from keras_rbf.evaluate import sample_indices

    x, y = load_test_split("mnist")
    idx = sample_indices(len(x), N)
    return x[idx], y[idx]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A small MLP with a softmax head, trained briefly on MNIST test images 5,000-6,999
    (the shipped split; the audit below attacks the first images)."""
    x, y = load_test_split("mnist")
    x, y = x[5000:], y[5000:]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:2000], y[:2000], epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("model") / "mlp.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def audit_dir(model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    assert (
        audit.main(
            [
                str(model_path),
                "--data",
                "mnist",
                "--eps",
                "0.1",
                "0.3",
                "--n-test",
                str(N),
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_audit_json_structure(audit_dir):
    result = json.loads((audit_dir / "audit.json").read_text())
    assert set(result) == {
        "n_test", "test_indices", "settings", "models", "strong_components", "seconds", "n",
        "ci95",
    }  # fmt: skip
    assert result["settings"]["norm"] == "Linf" and result["settings"]["suite"] == "cpu"
    for key, secs in result["seconds"]["mlp"].items():
        assert list(secs) == list(result["strong_components"]["mlp"][key])[1:]
        assert all(v >= 0 for v in secs.values())
    assert result["n_test"] == N
    from keras_rbf.evaluate import sample_indices

    assert result["test_indices"] == sample_indices(10_000, N).tolist()
    keys = ["clean", "strong_linf_0.1", "strong_linf_0.3"]
    scores = result["models"]["mlp"]
    assert list(scores) == keys and result["n"] == dict.fromkeys(keys, N)
    assert scores["clean"] > 0.7  # the model learned something: the audit has work to do
    assert scores["clean"] >= scores["strong_linf_0.1"] >= scores["strong_linf_0.3"]
    for key in keys:
        lo, hi = result["ci95"]["mlp"][key]
        assert 0 <= lo <= scores[key] <= hi <= 1
    for key, comps in result["strong_components"]["mlp"].items():
        values = list(comps.values())
        assert values[0] == scores["clean"] and values[-1] == scores[key]
    assert "logarithm" in result["settings"]["logits"]  # softmax head: attacked via log
    md = (audit_dir / "audit.md").read_text()
    assert "logarithm" in md and (audit_dir / "audit_eps.png").is_file()
    analysis = json.loads((audit_dir / "analysis.json").read_text())
    rows = analysis["checklist"]
    assert len(rows) == 5 and all(r["values"] in md for r in rows)
    # AutoAttack's flags come first: this softmax model raises the probability flag, and
    # a deterministic model no randomized flag.
    names = [f["flag"] for f in analysis["flags"]]
    assert "probability outputs" in names and "randomized outputs" not in names
    assert md.index("**probability outputs**") < md.index("| key | n |")
    assert "| strong_linf_0.3 | apgd-ce |" in md


@pytest.mark.slow
def test_suite_at_most_art_apgd_plus_one_pp(audit_dir, model_path, data):
    """Strong-suite robust accuracy <= ART's APGD-CE then APGD-DLR (100 it) + 1 pp."""
    import tensorflow as tf
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    x, y = data
    model = keras.saving.load_model(model_path)

    def log_probs(t, training=False):
        return tf.math.log(tf.clip_by_value(model(t), 1e-12, 1.0))

    clf = TensorFlowV2Classifier(
        log_probs,
        nb_classes=10,
        input_shape=x.shape[1:],
        loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
    result = json.loads((audit_dir / "audit.json").read_text())
    for eps in (0.1, 0.3):
        robust = np.argmax(clf.predict(x), -1) == y
        for loss in ("cross_entropy", "difference_logits_ratio"):
            idx = np.flatnonzero(robust)
            if idx.size == 0:
                break
            np.random.seed(0)
            adv = AutoProjectedGradientDescent(
                clf,
                eps=eps,
                eps_step=2 * eps,
                max_iter=100,
                nb_random_init=1,
                loss_type=loss,
                batch_size=N,
                verbose=False,
            ).generate(x[idx], y[idx])
            robust[idx] &= np.argmax(clf.predict(adv), -1) == y[idx]
        assert result["models"]["mlp"][f"strong_linf_{eps:g}"] <= robust.mean() + 0.01


def _run(args, capsys):
    code = cli.main(["audit", *(str(a) for a in args)])
    err = capsys.readouterr().err.strip()
    return code, err


def test_error_missing_model_and_data(tmp_path, model_path, capsys):
    code, err = _run([tmp_path / "nope.keras", "--data", "mnist", "--out-dir", tmp_path], capsys)
    assert code == 2 and err.count("\n") == 0 and "does not exist" in err
    code, err = _run([model_path, "--data", tmp_path / "nope.npz", "--out-dir", tmp_path], capsys)
    assert code == 2 and err.count("\n") == 0 and "nope.npz does not exist" in err
    code, err = _run([model_path, "--data", "cifar99", "--out-dir", tmp_path], capsys)
    assert code == 2 and err.count("\n") == 0 and "unknown data set 'cifar99'" in err
    assert err.startswith("keras-rbf audit: error: ")


def test_audit_main_raises_and_leaves_reporting_to_the_cli(tmp_path, capsys):
    """Errors are reported once, by `cli.main`: `audit.main` raises, prints nothing."""
    argv = [str(tmp_path / "m.keras"), "--data", "mnist", "--out-dir", str(tmp_path)]
    with pytest.raises(audit.AuditError, match="out of range: Linf radii must lie in"):
        audit.main([*argv, "--eps", "2"])
    assert capsys.readouterr().err == ""
    code, err = _run([*argv, "--eps", "2"], capsys)
    assert code == 2 and err.startswith("keras-rbf audit: error: --eps 2 out of range")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--norm", "L2", "--eps", "29"], "--eps 29 out of range: L2 radii must lie in (0, 28]"),
        (["--norm", "L1", "--eps", "800"], "L1 radii must lie in (0, 784]"),
        (["--eps", "-0.1"], "--eps values must be positive"),
        (["--norm", "l2"], "invalid choice: 'l2'"),
        (["--suite", "fast"], "invalid choice: 'fast'"),
    ],
)
def test_error_norm_eps_and_suite(tmp_path, model_path, capsys, extra, message):
    code, err = _run([model_path, "--data", "mnist", "--out-dir", tmp_path, *extra], capsys)
    assert code == 2 and err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "audit.json").exists()


def test_an_existing_audit_is_kept(tmp_path, model_path, capsys):
    (tmp_path / "audit.json").write_text("{}")
    code, err = _run([model_path, "--data", "mnist", "--out-dir", tmp_path], capsys)
    assert code == 2 and "already holds an audit; pass --overwrite" in err
    assert (tmp_path / "audit.json").read_text() == "{}"


def test_out_dir_defaults_to_audit():
    args = audit._parser().parse_args(["m.keras", "--data", "mnist"])
    assert args.out_dir == "audit" and args.norm == "Linf" and args.eps is None
    assert audit.DEFAULT_EPS["Linf"] == [0.1, 0.3]


def test_error_bad_npz(tmp_path, model_path, data, capsys):
    x, y = data
    bad = {
        "outside": (x * 255.0, y, "must lie in [0, 1]"),
        "labels": (x, y[:-3], "labels must have shape"),
        "classes": (x, y + 10, "labels do not match"),
    }
    for name, (xb, yb, message) in bad.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, x=xb, y=yb)
        code, err = _run([model_path, "--data", path, "--out-dir", tmp_path], capsys)
        assert code == 2 and err.count("\n") == 0 and message in err, (name, err)
        assert not (tmp_path / "audit.json").exists()


def test_error_not_a_classifier(tmp_path, data, capsys):
    x, y = data
    np.savez(tmp_path / "d.npz", x=x, y=y)
    inputs = keras.Input((28, 28, 1))
    seg = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same")(inputs))
    seg.save(tmp_path / "seg.keras")
    code, err = _run(
        [tmp_path / "seg.keras", "--data", tmp_path / "d.npz", "--out-dir", tmp_path], capsys
    )
    assert code == 2 and "(N, classes)" in err and err.count("\n") == 0


def test_cli_exit_2_one_line_no_traceback(tmp_path):
    """Through the real command line, in a fresh process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [
        sys.executable,
        "-m",
        "keras_rbf.cli",
        "audit",
        str(tmp_path / "x.keras"),
        "--data",
        "mnist",
        "--out-dir",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "keras-rbf audit: error: model file" in proc.stderr


def test_audit_l2_standard_suite(tmp_path, model_path):
    """The issue's command shape: --norm L2 --eps 1.5 --suite standard (AutoAttack's
    standard version, FAB-T included), keys naming the norm, seconds per component."""
    out = tmp_path / "l2"
    argv = [str(model_path), "--data", "mnist", "--norm", "L2", "--eps", "1.5"]
    argv += ["--suite", "standard", "--n-test", "12", "--out-dir", str(out)]
    assert audit.main(argv) == 0
    result = json.loads((out / "audit.json").read_text())
    assert list(result["models"]["mlp"]) == ["clean", "strong_l2_1.5"]
    comps = result["strong_components"]["mlp"]["strong_l2_1.5"]
    assert list(comps) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert list(result["seconds"]["mlp"]["strong_l2_1.5"]) == list(comps)[1:]
    settings = result["settings"]["attacks"]["strong_l2_1.5"]["components"]
    assert all(c["norm"] == "L2" and c["eps"] == 1.5 for c in settings)
    md = (out / "audit.md").read_text()
    assert "L2 threat model" in md and "| strong_l2_1.5 | fab-t |" in md
    assert "Run for the L-inf threat model only" in md  # Athalye's L-inf checks skipped
