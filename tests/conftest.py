"""Fixtures shared by the whole suite.

- `run_python`: runs a Python snippet in a fresh interpreter and returns its stdout
  (for checks that need a clean process: `.keras` loading after only `import keras_rbf`,
  another Keras backend, serving without `keras_rbf`); `read_last_json` parses the JSON
  document such a child prints last;
- `small_rbf_model`: builds a small model with one normalized RBF block on a 2D map and
  one on dense features;
- `randomize_rbf`: moves every `RBFMapping` off its initial Psi = I and equal widths, so
  a check exercises the whole Eq. 2-5 computation;
- `write_isic`: writes one ISIC 2017 split in the official layout (a test fixture).

Each fixture returns a function, so a test (or another fixture) can call it as often
as it needs.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# No test may depend on full MNIST being on the machine (CI's may lack it): Keras' cache
# moves to an empty folder for this process and its children, so `datasets.load("mnist")`
# gives the test split shipped in the package, as on a fresh install.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-rbf-tests-keras-home-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)
os.environ.pop("KERAS_RBF_MNIST", None)


def run_python_child(
    code: str,
    *args: str,
    cwd: str | os.PathLike,
    timeout: float = 600,
    with_repo: bool = True,
    **env: str | None,
) -> str:
    """Runs `code` as a script in a fresh interpreter and returns its stdout.

    Fails the test with the child's output when it exits non-zero.

    Args:
        code: the script's source; it reads `sys.argv[1:]` (= `args`).
        *args: command-line arguments of the script.
        cwd: working directory of the child.
        timeout: seconds before the child is killed.
        with_repo: put this checkout first on PYTHONPATH, so the child imports the
            `keras_rbf` under test; False removes PYTHONPATH altogether.
        **env: variables to set in the child's environment (None removes one).

    Returns:
        The child's stdout (`last_json(out)` reads a JSON document printed last).
    """
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    child_env.pop("PYTHONSTARTUP", None)
    if with_repo:
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
        )
    else:
        child_env.pop("PYTHONPATH", None)
    for key, value in env.items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return proc.stdout


def last_json(stdout: str) -> Any:
    """The JSON document on the last non-empty line of a child's stdout."""
    lines = stdout.strip().splitlines()
    assert lines, "the child printed nothing"
    return json.loads(lines[-1])


def build_small_rbf_model():
    """Conv -> rbf_block (normalized, 2D map) -> pooling -> rbf_block (dense) -> Dense(4).

    Input `(8, 8, 3)` named "image", output `(4,)` logits.
    """
    import keras

    from keras_rbf.layers import rbf_block

    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = rbf_block(x, normalize=True, name="block1")
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = rbf_block(x, name="block2")
    return keras.Model(inputs, keras.layers.Dense(4)(x), name="small_rbf")


def randomize_rbf_layers(model, seed: int = 0):
    """Gives every RBFMapping of `model` a non-identity Psi, unequal widths and a bias.

    At initialization Psi = I and beta is constant, which hides errors in the Psi and
    beta paths. Returns `model`.
    """
    from keras_rbf.layers import RBFMapping

    rng = np.random.RandomState(seed)
    for layer in model.layers:
        if isinstance(layer, RBFMapping):
            k = layer.psi_factor.shape[0]
            layer.psi_factor.assign((np.eye(k) + 0.2 * rng.randn(k, k)).astype("float32"))
            layer.beta.assign(rng.uniform(0.02, 0.3, layer.beta.shape).astype("float32"))
            layer.bias.assign(0.1 * rng.randn(*layer.bias.shape).astype("float32"))
    return model


def write_isic_split(root: Path, split_dirs: tuple[str, str], ids, size=(20, 14), rng=None):
    """Writes images and masks of one ISIC 2017 split in the official layout.

    Args:
        root: the data set's ROOT folder.
        split_dirs: `(image folder, mask folder)` names, e.g. of `isic2017.SPLIT_DIRS`.
        ids: ISIC ids to write (`ISIC_{id:07d}.jpg` and `..._segmentation.png`).
        size: `(width, height)` of the images.
        rng: `np.random.RandomState` for the pixels.

    Returns:
        `{id: mask}`, uint8 `(height, width)` masks in {0, 255}.
    """
    from PIL import Image

    rng = rng or np.random.RandomState(0)
    img_dir, mask_dir = root / split_dirs[0], root / split_dirs[1]
    img_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    masks = {}
    for i in ids:
        pixels = (rng.rand(size[1], size[0], 3) * 255).astype("uint8")
        Image.fromarray(pixels).save(img_dir / f"ISIC_{i:07d}.jpg")
        m = np.zeros((size[1], size[0]), "uint8")
        m[2 : 2 + i % 5 + 3, 3:9] = 255
        Image.fromarray(m).save(mask_dir / f"ISIC_{i:07d}_segmentation.png")
        masks[i] = m
    # Files that live there in the real archive and must be ignored.
    Image.fromarray(np.zeros((4, 4), "uint8")).save(img_dir / f"ISIC_{ids[0]:07d}_superpixels.png")
    (img_dir / "ISIC-2017_Training_Data_metadata.csv").write_text("image_id,age\n")
    return masks


@pytest.fixture(params=["jax", "torch"])
def other_backend(request) -> str:
    """ "jax" and "torch" in turn, for tests that run a child process under that Keras
    backend and check it against this (TensorFlow) process; skips where the backend is
    not installed or this process does not run TensorFlow."""
    import importlib.util

    import keras

    backend = request.param
    if importlib.util.find_spec(backend) is None:
        pytest.skip(
            f"{backend} is not installed (jax is in the dev extra; torch: "
            'pip install "torch==2.13.0+cpu", as the README says)'
        )
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference side of this test runs on the TensorFlow backend")
    return backend


@pytest.fixture(scope="session")
def write_isic() -> Callable[..., dict]:
    """`write_isic(root, split_dirs, ids, size=(20, 14), rng=None)`: see `write_isic_split`."""
    return write_isic_split


@pytest.fixture(scope="session")
def run_python(tmp_path_factory) -> Callable[..., str]:
    """`run_python(code, *args, cwd=None, timeout=600, with_repo=True, **env) -> stdout`.

    Runs `code` in a fresh interpreter (see `run_python_child`), by default in a new
    temporary folder.
    """

    def run(code: str, *args: str, cwd: str | os.PathLike | None = None, **kwargs) -> str:
        return run_python_child(code, *args, cwd=cwd or tmp_path_factory.mktemp("child"), **kwargs)

    return run


def strip_object_ids(obj):
    """`obj` (a Keras config) without the per-process `shared_object_id`s Keras puts in."""
    if isinstance(obj, dict):
        return {k: strip_object_ids(v) for k, v in obj.items() if k != "shared_object_id"}
    if isinstance(obj, list):
        return [strip_object_ids(v) for v in obj]
    return obj


@pytest.fixture(scope="session")
def strip_ids() -> Callable[[Any], Any]:
    """`strip_ids(config)`: see `strip_object_ids`."""
    return strip_object_ids


@pytest.fixture(scope="session")
def read_last_json() -> Callable[[str], Any]:
    """`read_last_json(stdout)`: see `last_json`."""
    return last_json


@pytest.fixture(scope="session")
def small_rbf_model() -> Callable[[], Any]:
    """A function building a fresh small RBF model (see `build_small_rbf_model`)."""
    return build_small_rbf_model


@pytest.fixture(scope="session")
def randomize_rbf() -> Callable[..., Any]:
    """`randomize_rbf(model, seed=0)`: see `randomize_rbf_layers`."""
    return randomize_rbf_layers


@pytest.fixture
def tiny_mnist_training(monkeypatch) -> dict:
    """Makes the CNN recipe train on slices of the MNIST test split shipped in the package
    (tests never need the full file): train on images 5,000-5,999, validate on the first
    256, test on the next 256. Returns those splits."""
    from keras_rbf import datasets
    from keras_rbf.recipes import cnn

    x, y = datasets.load("mnist")["test"]
    splits = {
        "train": (x[5000:6000], y[5000:6000]),
        "validation": (x[:256], y[:256]),
        "test": (x[256:512], y[256:512]),
    }
    monkeypatch.setattr(cnn.CNNRecipe, "data", lambda self, info: splits)
    return splits
