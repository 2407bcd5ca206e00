"""Seconds per attack on one backend: `python -m evaluation.bench_components`.

    [KERAS_BACKEND=jax|torch] python -m evaluation.bench_components [--model cnn_mnist_advt]
        [--n-test 200] [--eps 0.3] [--norm Linf] [--json OUT.json]

Times APGD-CE (100 steps), APGD-T (100 steps, 3 targets) and Square (1,000 queries), each
alone on the same images of the reports' fixed sample (not chained, so each time is that
attack's on every image), after a warm-up on two images that compiles its steps. Run it
under each Keras backend, or in two checkouts, to compare; prints the CPU. Measure with
nothing else running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

RUNS = (
    ("apgd-ce", {"nb_iter": 100}),
    ("apgd-t", {"nb_iter": 100, "n_target_classes": 3}),
    ("square", {"n_queries": 1000}),
)


def main(argv: list[str] | None = None) -> int:
    """Times the attacks of `RUNS`; prints one row each and returns 0."""
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench_components")
    parser.add_argument("--model", default="cnn_mnist_advt")
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--norm", default="Linf")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from keras_rbf import attacks, zoo
    from keras_rbf.evaluate import load_test_split, sample_indices
    from keras_rbf.recipes import machine

    model = zoo.load(args.model)
    x, y = load_test_split("mnist")
    idx = sample_indices(len(x), args.n_test)
    x, y = np.asarray(x[idx], np.float32), np.asarray(y[idx], np.int64)
    print(
        f"{args.model}, {len(x)} images, {args.norm} eps {args.eps:g}, Keras backend "
        f"{keras.backend.backend()}; machine: {machine()}",
        flush=True,
    )
    rows = []
    for name, settings in RUNS:
        attack = attacks.make(name, model, eps=args.eps, norm=args.norm, **settings)
        attack.attack(x[:2], y[:2])  # warm-up: compiles the steps
        start = time.perf_counter()
        _, broken = attack.attack(x, y)
        rows.append(
            {
                "attack": name,
                "seconds": time.perf_counter() - start,
                "robust": float(1 - broken.mean()),
            }
        )
        print(
            f"| {name} | {rows[-1]['seconds']:.1f} s | robust {rows[-1]['robust']:.3f} |",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": keras.backend.backend(), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
