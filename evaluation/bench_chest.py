"""Parameter counts and training-step time of the CHEST models, plain vs RBF.

    PYTHONPATH=. python evaluation/bench_chest.py [--size 299] [--batch 4] [--steps 3] [--mode both]

Builds `inception_resnet_v2_chest` and `inception_resnet_v2_rbf_chest` (299 x 299 x 1,
the cards' architectures), compiles each with the paper's optimizer (RMSProp rho 0.9,
epsilon 1.0, lr 0.045) and times training steps on random images of batch 4:
"graph" = `model.train_on_batch` (a compiled tf.function; the first call, which traces
and optimizes the graph, is reported separately) and "eager" = the same step with
`run_eagerly=True`. Prints one JSON object per model. Times are medians over `--steps`
steps after one warm-up step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def bench(name: str, size: int, batch: int, steps: int, mode: str) -> dict:
    import keras

    from keras_rbf.layers import RBFMapping
    from keras_rbf.recipes.chest import build_entry, paper_optimizer

    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    model = build_entry(name, size)
    build_s = time.perf_counter() - t0
    rbf_params = sum(
        layer.count_params() for layer in model.layers if isinstance(layer, RBFMapping)
    )
    x = (
        np.random.default_rng(0)
        .uniform(size=(batch, size, size, model.input_shape[-1]))
        .astype("float32")
    )
    y = np.arange(batch) % 2
    out = {
        "model": name,
        "input": [size, size, model.input_shape[-1]],
        "batch": batch,
        "params": int(model.count_params()),
        "rbf_layer_params": int(rbf_params),
        "build_s": round(build_s, 2),
    }
    for run_eagerly in [False] if mode == "graph" else [True] if mode == "eager" else [True, False]:
        key = "eager" if run_eagerly else "graph"
        model.compile(
            optimizer=paper_optimizer(1000),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            run_eagerly=run_eagerly,
        )
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        out[f"{key}_first_step_s"] = round(time.perf_counter() - t0, 2)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - t0)
        out[f"{key}_step_s_median"] = round(float(np.median(times)), 3)
        out[f"{key}_step_s_all"] = [round(t, 3) for t in times]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, default=299)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--mode", choices=["graph", "eager", "both"], default="both")
    p.add_argument(
        "--models",
        nargs="+",
        default=["inception_resnet_v2_chest", "inception_resnet_v2_rbf_chest"],
    )
    args = p.parse_args(argv)
    import tensorflow as tf

    print(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                f"GPUs: {len(tf.config.list_physical_devices('GPU'))}",
                "tensorflow": tf.__version__,
            }
        )
    )
    for name in args.models:
        print(json.dumps(bench(name, args.size, args.batch, args.steps, args.mode)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
