"""`keras-rbf export` to TF Serving SavedModels (keras_rbf/export.py).

The central check: a SavedModel written by `keras-rbf export` loads with
`tf.saved_model.load` in a fresh process in which `import keras_rbf` fails, and its
`serving_default` signature gives the Keras model's outputs to < 1e-4.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

TOL = 1e-4

keras = pytest.importorskip("keras")


def small_cnn_rbf():
    from keras_rbf.models import build_cnn

    return build_cnn((28, 28, 1), 10, rbf=True, conv_filters=(8, 16, 16))


# family -> builder; None: the suite's small RBF model (the `small_rbf_model` fixture).
FAMILIES = {"small_rbf": None, "cnn_rbf": small_cnn_rbf}

# Runs in a fresh interpreter (`run_python`), cwd outside the repository, PYTHONPATH
# without it, and a meta-path hook that makes `import keras_rbf` fail even where
# keras_rbf is installed.
SERVE_CHILD = r"""
import json, sys
import numpy as np


class BlockKerasRbf:
    def find_spec(self, name, path=None, target=None):
        if name == "keras_rbf" or name.startswith("keras_rbf."):
            raise ImportError(f"{name} is blocked: serving must not need it")
        return None


sys.meta_path.insert(0, BlockKerasRbf())
try:
    import keras_rbf  # noqa: F401
    blocked = False
except ImportError:
    blocked = True
import tensorflow as tf

report = {"keras_rbf_blocked": blocked}
for item in json.loads(sys.argv[1]):
    loaded = tf.saved_model.load(item["path"])
    serve = loaded.signatures["serving_default"]
    (key,) = serve.structured_input_signature[1]
    inputs = np.load(item["inputs"])
    outputs = {n: serve(**{key: tf.constant(inputs[n])}) for n in inputs.files}
    np.savez(item["outputs"], **{n: o["output_0"].numpy() for n, o in outputs.items()})
    report[item["family"]] = {
        "signatures": sorted(loaded.signatures), "input_key": key,
        "output_keys": sorted(serve.structured_outputs),
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_rbf_model, randomize_rbf, run_python, read_last_json):
    """Exports each family with the CLI (from a .keras file), serves all in one child."""
    from keras_rbf import export

    root = tmp_path_factory.mktemp("served")
    items, expected = [], {}
    for family, build in FAMILIES.items():
        model = randomize_rbf((build or small_rbf_model)())
        keras_file = root / f"{family}.keras"
        model.save(keras_file)
        outdir = root / family
        assert export.main([str(keras_file), str(outdir), "--version", "3"]) == 0
        rng = np.random.RandomState(1)
        shape = tuple(model.inputs[0].shape[1:])
        inputs = {f"batch{n}": rng.uniform(size=(n, *shape)).astype("float32") for n in (1, 5)}
        np.savez(root / f"{family}_in.npz", **inputs)
        expected[family] = {k: model.predict(v, verbose=0) for k, v in inputs.items()}
        items.append(
            {
                "family": family,
                "path": str(outdir / "3"),
                "inputs": str(root / f"{family}_in.npz"),
                "outputs": str(root / f"{family}_out.npz"),
            }
        )
    child_dir = root / "elsewhere"
    child_dir.mkdir()
    out = run_python(
        SERVE_CHILD,
        json.dumps(items),
        cwd=child_dir,
        with_repo=False,
        CUDA_VISIBLE_DEVICES="",
        timeout=180,
    )
    report = read_last_json(out)
    return {"report": report, "expected": expected, "root": root}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_saved_model_serves_without_keras_rbf(served, family):
    report = served["report"]
    assert report["keras_rbf_blocked"], "the serving process could import keras_rbf"
    info = report[family]
    assert "serving_default" in info["signatures"]
    assert info["input_key"] == "image" or family == "small_rbf"
    assert info["output_keys"] == ["output_0"]
    got = np.load(served["root"] / f"{family}_out.npz")
    for batch, want in served["expected"][family].items():
        assert got[batch].shape == want.shape  # free batch dimension: 1 and 5 both served
        diff = float(np.max(np.abs(got[batch] - want)))
        assert diff < TOL, f"{family} {batch}: max |keras - saved model| = {diff}"
        assert np.std(want) > 1e-3  # outputs vary with the input: the comparison means something


def test_export_layout_and_version_guard(tmp_path, small_rbf_model, randomize_rbf):
    from keras_rbf import export

    model = randomize_rbf(small_rbf_model())
    path = export.export_saved_model(model, tmp_path / "m", version=2)
    assert path == tmp_path / "m" / "2"
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    with pytest.raises(FileExistsError, match="--overwrite"):
        export.export_saved_model(model, tmp_path / "m", version=2)
    export.export_saved_model(model, tmp_path / "m", version=2, overwrite=True)
    x = export.sample_inputs(model, batch=3)
    assert export.check_saved_model(model, path, x) < TOL
    with pytest.raises(ValueError, match="version"):
        export.export_saved_model(model, tmp_path / "m", version=-1)


def test_cli_rejects_bad_inputs(tmp_path, capsys, small_rbf_model):
    from keras_rbf import export

    def fails(argv, message):
        assert export.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("keras-rbf export: error:") and message in err, err

    fails(["no_such_model", str(tmp_path / "out")], "neither a zoo model nor a .keras file")
    fails([str(tmp_path / "missing.keras"), str(tmp_path / "out")], "does not exist")
    weights = tmp_path / "m.weights.h5"
    weights.write_bytes(b"")
    fails([str(weights), str(tmp_path / "out")], "not a .keras file")
    keras_file = tmp_path / "m.keras"
    small_rbf_model().save(keras_file)
    (tmp_path / "out" / "1").mkdir(parents=True)
    (tmp_path / "out" / "1" / "saved_model.pb").write_bytes(b"x")
    fails([str(keras_file), str(tmp_path / "out")], "--overwrite")
    with pytest.raises(ValueError, match="neither a zoo model"):  # the library raises
        export.load_model_for_export("no_such_model")
    with pytest.raises(SystemExit):
        export.main([str(weights), str(tmp_path / "out"), "--format", "tflite"])
    with pytest.raises(SystemExit):
        export.main([str(weights), str(tmp_path / "out"), "--version", "-2"])


def test_cli_exports_a_zoo_entry_with_a_weight_file(tmp_path, capsys, randomize_rbf):
    """`keras-rbf export NAME OUTDIR --weights FILE`: the weights in the file are served."""
    import tensorflow as tf

    from keras_rbf import export, zoo

    name = "cnn_rbf_mnist"
    if name not in zoo.list():
        pytest.skip(f"zoo entry {name} not present")
    model = randomize_rbf(zoo.build(name), seed=3)
    weights = tmp_path / f"{name}.weights.h5"
    model.save_weights(weights)
    outdir = tmp_path / "serving" / name
    argv = [name, str(outdir), "--weights", str(weights), "--no-check"]
    assert export.main(argv) == 2  # a file of one's own: its sha256 must be given
    assert "sha256" in capsys.readouterr().err
    assert export.main(argv + ["--weights-sha256", zoo.sha256(weights)]) == 0
    printed = capsys.readouterr().out
    assert "serving_default" in printed and "image" in printed
    x = export.sample_inputs(model, batch=4, seed=5)[0]
    served = tf.saved_model.load(str(outdir / "1")).signatures["serving_default"]
    got = served(image=tf.constant(x))["output_0"].numpy()
    assert float(np.max(np.abs(got - model.predict(x, verbose=0)))) < TOL
    fresh = zoo.build(name)  # a differently initialized model must not match
    assert float(np.max(np.abs(got - fresh.predict(x, verbose=0)))) > 1e-3
