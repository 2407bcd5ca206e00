"""`keras-rbf export --format onnx`: tf2onnx conversion checked with onnxruntime.

ONNX has no Cholesky or triangular-solve op; keras_rbf.export folds RBFMapping's
weight-only ones into constants. These tests check the folding against a float64
reference, and each model family's ONNX file against Keras (max abs diff < 1e-4).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

TOL = 1e-4

keras = pytest.importorskip("keras")


def _cnn_rbf():
    from keras_rbf.models import build_cnn

    return build_cnn((28, 28, 1), 10, rbf=True, conv_filters=(8, 16, 16))


def _unet_rbf():
    from keras_rbf.models import build_unet

    return build_unet((32, 32, 3), 2, rbf=True, encoder_depth=2, encoder_filters=4)


# family -> builder; None: the suite's small RBF model (the `small_rbf_model` fixture).
FAMILIES = {"small_rbf": None, "cnn_rbf": _cnn_rbf, "unet_rbf": _unet_rbf}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_onnx_matches_keras(tmp_path, family, small_rbf_model, randomize_rbf):
    pytest.importorskip("tf2onnx", reason="tf2onnx not installed (pip install keras-rbf[export])")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    onnx = pytest.importorskip("onnx")
    from keras_rbf import export

    model = randomize_rbf((FAMILIES[family] or small_rbf_model)())
    path = export.export_onnx(model, tmp_path / family, version=1)
    assert path == tmp_path / family / "1" / "model.onnx"

    graph = onnx.load(str(path)).graph
    op_types = {node.op_type for node in graph.node}
    assert not op_types & {"Cholesky", "MatrixTriangularSolve"}, op_types
    assert [o.name for o in graph.output] == ["output_0"]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == model.inputs[0].name
    rng = np.random.RandomState(7)
    for batch in (1, 4):  # the batch dimension stays free
        x = rng.uniform(size=(batch, *model.inputs[0].shape[1:])).astype("float32")
        want = model.predict(x, verbose=0)
        (got,) = session.run(None, {inp.name: x})
        assert got.shape == want.shape
        diff = float(np.max(np.abs(got - want)))
        assert diff < TOL, f"{family}: max |keras - onnxruntime| = {diff}"
    assert np.std(want) > 1e-3


class _FakeNode:
    def __init__(self, **attrs):
        self.attrs = attrs

    def get_attr_value(self, name, default=None):
        return self.attrs.get(name, default)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_folded_linear_algebra_matches_scipy_float64(lower, adjoint):
    """The constant-folding kernels against SciPy on random float64 matrices."""
    from scipy.linalg import cholesky, solve_triangular

    from keras_rbf.export import _cholesky, _triangular_solve

    rng = np.random.RandomState(0)
    a = rng.randn(5, 5)
    spd = a @ a.T + 0.5 * np.eye(5)
    np.testing.assert_allclose(_cholesky(None, spd), cholesky(spd, lower=True), rtol=1e-12)
    # A full (not triangular) matrix: the op must read only the named triangle.
    matrix = rng.randn(5, 5) + 4 * np.eye(5)
    rhs = rng.randn(5, 3)
    want = solve_triangular(matrix, rhs, lower=lower, trans="T" if adjoint else "N")
    got = _triangular_solve(_FakeNode(lower=int(lower), adjoint=int(adjoint)), matrix, rhs)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_missing_tf2onnx_gives_a_clear_error(tmp_path, monkeypatch, small_rbf_model):
    from keras_rbf import export

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # makes `import tf2onnx` fail
    with pytest.raises(ImportError, match=r"tf2onnx.*keras-rbf\[export\]"):
        export.export_onnx(small_rbf_model(), tmp_path / "m")
    assert not (tmp_path / "m").exists()  # nothing half-written
