"""Seconds per training epoch of the CNN zoo recipes (ORIG, PROP, ADVT), measured quietly.

    python -m training.bench_epochs [--steps 20]

Times `--steps` training steps of each recipe after a warm-up (tracing) and scales them
to an epoch of each data set's training split (MNIST and Fashion-MNIST: 55,000 images;
batch 128). Run it with nothing else on the machine: the training runs themselves record their
own seconds per epoch, but those are only quiet when nothing else ran beside them.
Prints the CPU, one row per recipe and the ratios to ORIG.
"""

from __future__ import annotations

import argparse
import math
import time

import keras
import numpy as np

from keras_rbf import zoo
from keras_rbf.recipes import machine
from keras_rbf.recipes.cnn import adversarial_setup

BATCH = 128
EPOCH_IMAGES = {"mnist": 55000, "fashion_mnist": 55000}
# recipe -> (zoo entry whose model and training block are used)
RECIPES = {
    "ORIG": "cnn_mnist",
    "PROP": "cnn_rbf_mnist",
    "ORIG ADVT PGD-10": "cnn_mnist_advt",
    "PROP ADVT PGD-10": "cnn_rbf_mnist_advt",
    "ORIG ADVT FGSM-RS": "cnn_fashion_mnist_advt",
    "PROP ADVT FGSM-RS": "cnn_rbf_fashion_mnist_advt",
}


def seconds_per_step(name: str, steps: int, seed: int = 0) -> float:
    """Median seconds of one training step of zoo entry `name`'s recipe."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (BATCH * (steps + 2), 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, len(x))
    model = zoo.build(name)
    adversarial = zoo.card(name)["training"].get("adversarial")
    fitted = adversarial_setup(model, adversarial, 1)[0] if adversarial else model
    fitted.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    fitted.fit(x[: 2 * BATCH], y[: 2 * BATCH], batch_size=BATCH, verbose=0)  # trace
    times = []
    for i in range(2, steps + 2):
        sl = slice(i * BATCH, (i + 1) * BATCH)
        t = time.perf_counter()
        fitted.train_on_batch(x[sl], y[sl])
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"CPU: {machine()}; batch {BATCH}; median of {args.steps} steps", flush=True)
    rows = {r: seconds_per_step(n, args.steps) for r, n in RECIPES.items()}
    print("| recipe | s/step | s/epoch MNIST (55,000) | s/epoch Fashion-MNIST (55,000) | x ORIG |")
    print("|---|---|---|---|---|")
    for recipe, s in rows.items():
        per = {d: s * math.ceil(n / BATCH) for d, n in EPOCH_IMAGES.items()}
        print(
            f"| {recipe} | {s:.4f} | {per['mnist']:.1f} | {per['fashion_mnist']:.1f} | "
            f"{s / rows['ORIG']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
