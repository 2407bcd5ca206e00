"""Our standard AutoAttack vs torchattacks' on the same Keras model and images.

    python -m evaluation.bench_attacks --against torchattacks [--model cnn_mnist_advt]
        [--n-test 200] [--eps 0.3] [--norm Linf]

Both run AutoAttack's standard version (APGD-CE, APGD-T with 9 targets, FAB-T with 9
targets, Square with 5,000 queries; each on the images still standing): ours is
`StrongSuite(suite="standard")` on the TensorFlow backend, timed after a warm-up on two
images that traces its loops; torchattacks' `AutoAttack(version="standard")` (a port of
AutoAttack's own code) runs in a child process under `KERAS_BACKEND=torch`, where the
same `.keras` model is a `torch.nn.Module`, with torch on as many threads as the machine
has cores. Prints both times, the ratio (theirs / ours: above 1 means ours is faster),
both robust accuracies, ours per component, and the CPU. Measure with nothing else
running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["CHILD", "compare"]

# The torchattacks side, in a fresh interpreter under the torch backend.
CHILD = r"""
import json, sys, time
import numpy as np
import keras, torch
import torchattacks

assert keras.backend.backend() == "torch"
torch.set_num_threads(int(sys.argv[5]))
import keras_rbf  # registers RBFMapping for loading

model = keras.saving.load_model(sys.argv[1])
data = np.load(sys.argv[2])
x, y = torch.tensor(data["x"]), torch.tensor(data["y"])
attack = torchattacks.AutoAttack(
    model, norm=sys.argv[3], eps=float(sys.argv[4]), version="standard", n_classes=10, seed=0
)
start = time.perf_counter()
adv = attack(x, y)
seconds = time.perf_counter() - start
with torch.no_grad():
    robust = (model(adv).argmax(-1) == y).float().mean().item()
print(json.dumps({"seconds": seconds, "robust": robust}))
"""


def _torchattacks(model_path: Path, x, y, norm: str, eps: float, tmp: Path) -> dict:
    np.savez(tmp / "data.npz", x=x, y=y)
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    threads = str(os.cpu_count() or 1)
    cmd = [sys.executable, "-c", CHILD, str(model_path), str(tmp / "data.npz"), norm]
    proc = subprocess.run(
        [*cmd, str(eps), threads], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode:
        raise RuntimeError("torchattacks' side failed:\n" + proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(model, x: np.ndarray, y: np.ndarray, norm: str, eps: float) -> dict:
    """Times both standard suites on `(x, y)`.

    Args:
        model: a Keras model (logits) on the TensorFlow backend.
        x: `(N, H, W, C)` float32 images in [0, 1]; y: `(N,)` int64 labels.
        norm: "Linf" or "L2" (torchattacks' AutoAttack has no L1).
        eps: the radius.

    Returns:
        `{"ours": {"seconds", "robust", "components", "component_seconds"},
        "torchattacks": {"seconds", "robust"}, "ratio": theirs / ours}`.
    """
    from keras_rbf.attacks import StrongSuite

    suite = StrongSuite(model, eps=eps, norm=norm, suite="standard")
    suite.run(x[:2], y[:2])  # warm-up: traces the compiled loops
    start = time.perf_counter()
    res = suite.run(x, y)
    ours = {
        "seconds": time.perf_counter() - start,
        "robust": float(res.robust.mean()),
        "components": res.components,
        "component_seconds": res.seconds,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        theirs = _torchattacks(path, x, y, norm, eps, Path(tmp))
    return {"ours": ours, "torchattacks": theirs, "ratio": theirs["seconds"] / ours["seconds"]}
