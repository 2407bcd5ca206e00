"""`keras-rbf export`: TF Serving SavedModels and ONNX files of zoo models.

    keras-rbf export NAME_OR_PATH OUTDIR [--version N] [--format savedmodel|onnx]
                     [--weights pretrained|none|PATH] [--overwrite] [--no-check]

NAME_OR_PATH is a zoo entry (`keras-rbf zoo list`) or a `.keras` file. The result goes to
`OUTDIR/N/` (default N = 1), the layout TF Serving (and Triton) watch for versions:

- `savedmodel`: `OUTDIR/N/saved_model.pb` + `variables/`, written by Keras' own
  `model.export(..., format="tf_saved_model")`, with a `serving_default` signature. It is
  a plain TensorFlow graph: TF Serving runs it as is, and `tf.saved_model.load` loads it
  where keras_rbf is not installed.
- `onnx`: `OUTDIR/N/model.onnx`, converted by tf2onnx (install `keras-rbf[export]`).

After writing, the export is loaded back and compared with the Keras model on random
inputs (skip with `--no-check`); the command prints the largest difference.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "load_model_for_export",
    "export_saved_model",
    "export_onnx",
    "sample_inputs",
    "max_abs_diff",
    "main",
]

FORMATS = ("savedmodel", "onnx")
ONNX_FILE = "model.onnx"


def load_model_for_export(
    name_or_path: str, weights: str = "pretrained", weights_sha256: str | None = None
):
    """The Keras model to export: a zoo entry or a `.keras` file.

    Args:
        name_or_path: a name from `keras_rbf.zoo.list()` or the path of a `.keras` file.
        weights: for a zoo entry, "pretrained" (the card's sha256-checked file), "none"
            (untrained architecture) or the path of a `.weights.h5` file. Must stay
            "pretrained" for a `.keras` file, which carries its own weights.
        weights_sha256: expected sha256 of a `weights` path (see `keras_rbf.zoo.load`;
            by default the run record beside the file, else the card's).

    Returns:
        A built `keras.Model`.

    Raises:
        FileNotFoundError: a `.keras` path that does not exist.
        ValueError: neither a zoo entry nor a `.keras` file (the message lists the zoo),
            or `weights` given with a `.keras` file.
        keras_rbf.zoo.ZooError: missing or tampered published weights.
    """
    import keras

    import keras_rbf  # noqa: F401 - registers the custom layers for deserialization
    from keras_rbf import zoo

    if name_or_path.endswith(".keras") or os.sep in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"Model file {path} does not exist")
        if path.suffix != ".keras":
            raise ValueError(
                f"{path} is not a .keras file; export takes a zoo name or a model saved with "
                f"model.save('model.keras') (a .weights.h5 file goes with --weights)"
            )
        if weights != "pretrained":
            raise ValueError("--weights applies to zoo names; a .keras file has its weights")
        return keras.saving.load_model(path, safe_mode=True)
    names = zoo.list()
    if name_or_path not in names:
        raise ValueError(
            f"{name_or_path!r} is neither a zoo model nor a .keras file. "
            f"Zoo models: {', '.join(names) or '(none)'}"
        )
    return zoo.load(
        name_or_path, weights=None if weights == "none" else weights, sha256=weights_sha256
    )


def _version_dir(outdir: str | os.PathLike, version: int, overwrite: bool) -> Path:
    if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version!r}")
    if Path(outdir).exists() and not Path(outdir).is_dir():
        raise FileExistsError(
            f"OUTDIR {outdir} is an existing file, not a folder; pass a folder (the export "
            f"goes into OUTDIR/{int(version)}/)"
        )
    target = Path(outdir) / str(int(version))
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{target} already exists and is not empty; pick another --version "
                f"(TF Serving serves the highest) or pass --overwrite"
            )
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _input_specs(model) -> list:
    """`tf.TensorSpec`s of a functional model's inputs, batch dimension free."""
    import tensorflow as tf

    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} has no symbolic inputs (a subclassed model that was never "
            f"called?); export needs a functional model such as the zoo builders return"
        )
    return [
        tf.TensorSpec((None, *tuple(t.shape)[1:]), t.dtype, name=t.name.split(":")[0])
        for t in inputs
    ]


def export_saved_model(
    model, outdir: str | os.PathLike, version: int = 1, overwrite: bool = False
) -> Path:
    """Writes `model` as a TF Serving SavedModel into `outdir/version/`.

    Uses Keras' standard export (`model.export(..., format="tf_saved_model")`): the
    forward pass in inference mode, traced for a free batch size, becomes the
    `serving_default` signature (also callable as `.serve`), keyed by the Keras input
    names, with outputs `output_0`, ... Loading it needs no keras_rbf:
    `tf.saved_model.load(path).signatures["serving_default"](image=batch)`.

    Args:
        model: a built Keras model.
        outdir: model base path (the folder TF Serving's `--model_base_path` names).
        version: the version sub-folder.
        overwrite: replace an existing non-empty version folder.

    Returns:
        The version folder.
    """
    target = _version_dir(outdir, version, overwrite)
    model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def _fold_constant(compute):
    """A tf2onnx op handler that replaces a weights-only op by its value.

    ONNX has no Cholesky factorization and no triangular solve. In RBFMapping both act
    on the weights only (`Psi = A A^T + eps I`, `T = L^-1`), so for inference they are
    constants: this handler evaluates them in float64 NumPy at conversion time (TF's own
    constant folding does so for some of them, not all) and stores the result.
    """

    def handler(ctx, node, name, args):
        if not all(inp.is_const() for inp in node.inputs):
            raise ValueError(
                f"ONNX export: {node.type} op {node.name} depends on the model's input; "
                f"only weight-only {node.type} ops can be folded into constants"
            )
        values = [inp.get_tensor_value(as_list=False) for inp in node.inputs]
        result = np.asarray(compute(node, *[v.astype("float64") for v in values]))
        output = node.output[0]
        ctx.remove_node(node.name)
        ctx.make_const(output, result.astype(values[0].dtype))

    return handler


def _cholesky(node, matrix):
    return np.linalg.cholesky(matrix)


def _triangular_solve(node, matrix, rhs):
    lower = bool(node.get_attr_value("lower", 1))
    matrix = np.tril(matrix) if lower else np.triu(matrix)  # TF reads that triangle only
    if node.get_attr_value("adjoint", 0):
        matrix = np.swapaxes(matrix, -1, -2)
    return np.linalg.solve(matrix, rhs)


def _rename_onnx_outputs(onnx_model, names: list[str]) -> None:
    """Renames graph outputs (tf2onnx calls them "Identity:0", ...) to `names`."""
    renames = {out.name: new for out, new in zip(onnx_model.graph.output, names)}
    for out in onnx_model.graph.output:
        out.name = renames[out.name]
    for node in onnx_model.graph.node:
        node.output[:] = [renames.get(o, o) for o in node.output]
        node.input[:] = [renames.get(i, i) for i in node.input]


def export_onnx(
    model,
    outdir: str | os.PathLike,
    version: int = 1,
    overwrite: bool = False,
    opset: int | None = None,
) -> Path:
    """Writes `model` as ONNX into `outdir/version/model.onnx` with tf2onnx.

    The forward pass in inference mode is traced for a free batch size and converted;
    RBFMapping's weight-only Cholesky / triangular solve are folded into constants (see
    `_fold_constant`). Inputs keep the Keras input names; outputs are named `output_0`,
    `output_1`, ... as in the SavedModel's `serving_default` signature.

    Args:
        model: a built functional Keras model with float32 weights.
        outdir: base folder.
        version: the version sub-folder.
        overwrite: replace an existing non-empty version folder.
        opset: ONNX opset; default tf2onnx's.

    Returns:
        The path of the `.onnx` file.

    Raises:
        ImportError: tf2onnx or onnx is not installed (`pip install keras-rbf[export]`).
    """
    try:
        import onnx
        import tf2onnx
    except ImportError as err:
        raise ImportError(
            f"--format onnx needs the packages tf2onnx and onnx ({err}); install them with "
            f"`pip install 'keras-rbf[export]'` (or `pip install tf2onnx onnxruntime`)"
        ) from err
    import tensorflow as tf

    specs = _input_specs(model)
    target = _version_dir(outdir, version, overwrite)

    @tf.function
    def forward(*args):
        return model(args[0] if len(args) == 1 else list(args), training=False)

    handlers = {
        "Cholesky": (_fold_constant(_cholesky), []),
        "MatrixTriangularSolve": (_fold_constant(_triangular_solve), []),
    }
    onnx_model, _ = tf2onnx.convert.from_function(
        forward, input_signature=specs, opset=opset, custom_op_handlers=handlers
    )
    _rename_onnx_outputs(onnx_model, [f"output_{i}" for i in range(len(onnx_model.graph.output))])
    onnx.checker.check_model(onnx_model)
    target.mkdir(parents=True, exist_ok=True)
    path = target / ONNX_FILE
    onnx.save(onnx_model, str(path))
    return path


def sample_inputs(model, batch: int = 2, seed: int = 0, free_dim: int = 64) -> list[np.ndarray]:
    """Uniform [0, 1) inputs for `model`, one array per model input.

    Args:
        model: a functional Keras model.
        batch: batch size.
        seed: NumPy seed.
        free_dim: size used for unknown (None) non-batch dimensions.
    """
    rng = np.random.RandomState(seed)
    arrays = []
    for t in model.inputs:
        shape = [batch] + [free_dim if d is None else int(d) for d in tuple(t.shape)[1:]]
        arrays.append(rng.uniform(size=shape).astype(t.dtype))
    return arrays


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest absolute difference between two (nests of) arrays of equal structure."""
    import keras

    flat_a, flat_b = keras.tree.flatten(a), keras.tree.flatten(b)
    if len(flat_a) != len(flat_b):
        raise ValueError(f"{len(flat_a)} outputs vs {len(flat_b)}")
    return max(
        float(np.max(np.abs(np.asarray(x, "float64") - np.asarray(y, "float64"))))
        for x, y in zip(flat_a, flat_b)
    )


def _keras_outputs(model, inputs):
    return model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)


def check_saved_model(model, path: str | os.PathLike, inputs: list[np.ndarray]) -> float:
    """Max |Keras - SavedModel serving_default| on `inputs` (flattened in output order)."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    keys = sorted(serve.structured_input_signature[1])
    names = keys if len(keys) == 1 else [spec.name for spec in _input_specs(model)]
    got = serve(**{n: tf.constant(x) for n, x in zip(names, inputs)})
    got = [got[k].numpy() for k in sorted(got, key=lambda k: int(k.rsplit("_", 1)[-1]))]
    return max_abs_diff(_keras_outputs(model, inputs), got)


def check_onnx(model, path: str | os.PathLike, inputs: list[np.ndarray]) -> float:
    """Max |Keras - onnxruntime| on `inputs`."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            f"checking an ONNX export needs onnxruntime ({err}); install it with "
            f"`pip install 'keras-rbf[export]'` or pass --no-check"
        ) from err
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return max_abs_diff(_keras_outputs(model, inputs), session.run(None, feeds))


def main(argv: list[str] | None = None) -> int:
    """`keras-rbf export NAME_OR_PATH OUTDIR [...]`; returns the exit status."""
    # Why this function is long: argument definitions and the two export formats' dispatch, one
    # line each
    from keras_rbf.cli_args import ArgumentParser

    parser = ArgumentParser(
        prog="keras-rbf export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="NAME_OR_PATH", help="zoo name or .keras file")
    parser.add_argument("outdir", metavar="OUTDIR", help="base folder; writes OUTDIR/N/")
    parser.add_argument("--version", type=int, default=1, help="version sub-folder N (default 1)")
    parser.add_argument("--format", choices=FORMATS, default="savedmodel")
    parser.add_argument(
        "--weights",
        default="pretrained",
        help="zoo entries: 'pretrained' (default), 'none' or a .weights.h5 path",
    )
    parser.add_argument(
        "--weights-sha256",
        default=None,
        help="expected sha256 of a --weights file of your own (default: the "
        "run record beside it, else the zoo card's)",
    )
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default tf2onnx's)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTDIR/N if it exists")
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="skip comparing the export with the Keras model",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest accepted |Keras - export| in the check (default 1e-4)",
    )
    args = parser.parse_args(argv)
    if args.version < 0:
        parser.error(f"--version must be >= 0, got {args.version}")

    try:
        model = load_model_for_export(args.model, args.weights, args.weights_sha256)
        if args.format == "savedmodel":
            path = export_saved_model(model, args.outdir, args.version, args.overwrite)
        else:
            path = export_onnx(model, args.outdir, args.version, args.overwrite, args.opset)
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as err:
        # Expected user errors (unknown name, missing weights or file, existing version,
        # missing tf2onnx): the message says what to do; a traceback would bury it.
        print(f"keras-rbf export: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.format} of {args.model} to {path}")
    if args.format == "savedmodel":
        specs = ", ".join(f"{s.name}: {tuple(s.shape)} {s.dtype.name}" for s in _input_specs(model))
        print(f"signature serving_default: inputs {{{specs}}}, outputs output_0...")
    if args.check:
        inputs = sample_inputs(model)
        check = check_saved_model if args.format == "savedmodel" else check_onnx
        diff = check(model, path, inputs)
        print(f"check: max |keras - {args.format}| = {diff:.3g} on {len(inputs[0])} random inputs")
        if not diff < args.tolerance:
            print(f"error: difference {diff:.3g} exceeds --tolerance {args.tolerance}")
            return 1
    return 0
