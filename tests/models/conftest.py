"""`run_model_test`: the one check every model family passes (keras-hub's run_backbone_test).

A test calls `run_model_test(builder, kwargs, input_shape, output_shape)` with a small
configuration of its family (few blocks, small inputs) and gets, on a model whose RBF
layers are moved off their initialization (`randomize_rbf`):

1. a forward pass: output shape `(2, *output_shape)`, finite, depending on the input;
2. a config round trip: `Model.from_config(model.get_config())` has the same config and,
   given the weights, the same outputs;
3. a `.keras` round trip in a fresh interpreter that imports `keras_rbf` and nothing else
   of it, loading with `safe_mode=True`: every custom object is registered by the package
   and deserializes without running code; weights bit-equal, outputs to 1e-5;
4. a forward pass under the "mixed_float16" policy with the same weights: finite and
   close to float32 (RBF distances and exp stay float32, docs/design.md);
5. a SavedModel export with `keras_rbf.export`: `serving_default` matches to 1e-4.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pytest

keras = pytest.importorskip("keras")

# Loads a .keras file after `import keras_rbf` only and writes its outputs and weights.
KERAS_FILE_CHILD = r"""
import json, sys
import numpy as np
import keras
import keras_rbf  # the only keras_rbf import: it must register every custom object

path, x_file, out_file = sys.argv[1:4]
model = keras.saving.load_model(path, safe_mode=True)
out = keras.ops.convert_to_numpy(model(np.load(x_file), training=False))
weights = model.get_weights()
np.savez(out_file, out=out, **{f"w{i}": w for i, w in enumerate(weights)})
print(json.dumps({"num_weights": len(weights), "name": model.name}))
"""

TOL = 1e-5
EXPORT_TOL = 1e-4


def _outputs(model, x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype="float32")


def _check_config_round_trip(model, x, want, strip_ids) -> None:
    config = model.get_config()
    clone = model.__class__.from_config(copy.deepcopy(config))  # from_config consumes it
    assert strip_ids(clone.get_config()) == strip_ids(config)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(_outputs(clone, x), want, rtol=TOL, atol=TOL)


def _check_keras_file(model, x, want, tmp_path: Path, run_python, read_last_json) -> None:
    path, x_file, out_file = tmp_path / "model.keras", tmp_path / "x.npy", tmp_path / "o.npz"
    model.save(path)
    np.save(x_file, x)
    report = read_last_json(run_python(KERAS_FILE_CHILD, path, x_file, out_file))
    got = np.load(out_file)
    saved = model.get_weights()
    assert report == {"num_weights": len(saved), "name": model.name}
    for i, w in enumerate(saved):
        np.testing.assert_array_equal(got[f"w{i}"], w)
    np.testing.assert_allclose(got["out"], want, rtol=TOL, atol=TOL)


def _check_mixed_precision(builder, kwargs, model, x, want) -> None:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = builder(**kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    mixed.set_weights(model.get_weights())
    got = _outputs(mixed, x)
    assert np.all(np.isfinite(got))
    # float16 keeps ~3 significant digits per layer; a few per cent of the output scale
    # separates rounding from a wrong computation (which is off by the scale itself).
    scale = float(np.max(np.abs(want)))
    assert float(np.max(np.abs(got - want))) <= 0.05 * scale + 1e-3


def _check_saved_model(model, x, tmp_path: Path) -> None:
    from keras_rbf import export

    path = export.export_saved_model(model, tmp_path / "saved_model", version=1)
    assert export.check_saved_model(model, path, [x]) < EXPORT_TOL


@pytest.fixture
def run_model_test(
    tmp_path, run_python, read_last_json, randomize_rbf, strip_ids
) -> Callable[..., Any]:
    """`run_model_test(builder, kwargs, input_shape, output_shape)`: see the module docstring.

    Args (of the returned function):
        builder: a `build_<family>` function.
        kwargs: its arguments (a small configuration).
        input_shape: one example's input shape.
        output_shape: one example's expected output shape.

    Returns (of the returned function):
        The built model (randomized RBF layers), for family-specific checks.
    """

    def run(builder, kwargs: dict, input_shape: Sequence[int], output_shape: Sequence[int]):
        keras.utils.set_random_seed(0)
        model = randomize_rbf(builder(**kwargs))
        x = np.random.RandomState(1).uniform(size=(2, *input_shape)).astype("float32")
        want = _outputs(model, x)
        assert want.shape == (2, *output_shape)
        assert np.all(np.isfinite(want)) and not np.allclose(want[0], want[1])
        _check_config_round_trip(model, x, want, strip_ids)
        _check_keras_file(model, x, want, tmp_path, run_python, read_last_json)
        _check_mixed_precision(builder, kwargs, model, x, want)
        _check_saved_model(model, x, tmp_path)
        return model

    return run
