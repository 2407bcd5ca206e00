"""Speed and memory of RBFMapping: `keras-rbf bench` / `python -m evaluation.bench_rbf`.

Times forward + backward (gradients of a scalar loss with respect to the input and
every variable, compiled with `tf.function`) and measures peak memory of three
computations on the same input:

- ``rbf``: `RBFMapping` as shipped (Cholesky-expanded distances, `squared_distances`);
- ``naive``: the textbook formula on an explicit `(N, P, K)` difference tensor;
- ``dense``: a `Dense` layer with the same input and output sizes (the floor).

Each case runs in its own subprocess so that peak memory is that case's alone: on
CPU the increase of the process's peak resident set size over its size just before
the first call; on GPU TensorFlow's own peak-allocation counter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

__all__ = ["main", "SHAPES", "run_case"]

# name -> (N feature vectors, K channels, P centers = units)
SHAPES = {
    "mnist_cnn_block1": (128 * 14 * 14, 64, 64),
    "unet_block": (16 * 64 * 64, 64, 64),
    "irv2_top": (32, 1536, 1536),
}
METHODS = ("rbf", "naive", "dense")


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_case(method: str, n: int, k: int, p: int, repeats: int = 5) -> dict:
    """Times one case in this process; returns median seconds and peak memory (MB)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_rbf.layers import RBFMapping, squared_distances

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(n, k)).astype("float32"))
    if method == "dense":
        layer = keras.layers.Dense(p)
    else:
        layer = RBFMapping(units=p, num_centers=p)
    layer.build((None, k))
    variables = list(layer.trainable_variables)

    if method == "naive":
        def forward(inputs):
            dist = squared_distances(inputs, layer.centers, layer.psi_factor, layer.epsilon,
                                     method="broadcast")
            return tf.matmul(tf.exp(-layer.beta * dist), layer.kernel) + layer.bias
    else:
        forward = layer

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.square(forward(inputs)))
        grads = tape.gradient(loss, [inputs] + variables)
        return loss, grads

    gpu = bool(tf.config.list_physical_devices("GPU"))
    step.get_concrete_function(x)  # trace outside the measured region
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    rss_before = _rss_mb()
    _, grads = step(x)  # first call: allocations, warm-up
    [g.numpy() for g in grads]
    peak = (tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20 if gpu
            else _rss_mb() - rss_before)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, grads = step(x)
        [g.numpy() for g in grads]
        times.append(time.perf_counter() - start)
    return {"seconds": float(np.median(times)), "peak_mb": float(peak), "device": "GPU" if gpu else "CPU"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keras-rbf bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)  # subprocess mode
    args = parser.parse_args(argv)
    if args.case:
        method, n, k, p = args.case.split(",")
        print(json.dumps(run_case(method, int(n), int(k), int(p), args.repeats)))
        return 0

    import tensorflow as tf

    from keras_rbf.recipes import machine

    results = {}
    for shape in args.shapes:
        n, k, p = SHAPES[shape]
        for method in METHODS:
            out = subprocess.run(
                [sys.executable, "-m", "keras_rbf.benchmarks", "--case", f"{method},{n},{k},{p}",
                 "--repeats", str(args.repeats)],
                capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            if out.returncode != 0:
                results[(shape, method)] = {"error": out.stderr.strip().splitlines()[-1]}
                continue
            results[(shape, method)] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"RBFMapping forward+backward, median of {args.repeats} runs after warm-up")
    print(f"machine: {machine()}; TensorFlow {tf.__version__}; "
          f"device: {next(iter(results.values())).get('device', '?')}")
    print()
    header = ("| shape | N | K=P | rbf ms | naive ms | dense ms | naive/rbf time | rbf/dense time "
              "| rbf MB | naive MB | dense MB | naive/rbf memory |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for shape in args.shapes:
        n, k, _ = SHAPES[shape]
        r = {m: results[(shape, m)] for m in METHODS}
        def ms(m):
            return f"{r[m]['seconds'] * 1e3:.1f}" if "seconds" in r[m] else "error"
        def mb(m):
            return f"{r[m]['peak_mb']:.0f}" if "peak_mb" in r[m] else "error"
        def ratio(a, b, key):
            if key in r[a] and key in r[b] and r[b][key] > 0:
                return f"{r[a][key] / r[b][key]:.1f}x"
            return "n/a"
        print(f"| {shape} | {n} | {k} | {ms('rbf')} | {ms('naive')} | {ms('dense')} "
              f"| {ratio('naive', 'rbf', 'seconds')} | {ratio('rbf', 'dense', 'seconds')} "
              f"| {mb('rbf')} | {mb('naive')} | {mb('dense')} | {ratio('naive', 'rbf', 'peak_mb')} |")
    for (shape, method), r in results.items():
        if "error" in r:
            print(f"{shape}/{method} failed: {r['error']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({f"{s}/{m}": v for (s, m), v in results.items()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def attack_main(argv: list[str] | None = None) -> int:
    """`python -m evaluation.bench_attacks`: CleverHans' eager PGD loop vs our compiled one.

    Both run L-inf PGD with the same model (`cnn_rbf_mnist` by default), images, eps,
    step size and number of steps; CleverHans iterates in Python (one `tf.function`
    gradient call per step), `keras_rbf.attacks.strong.pgd_linf` runs the whole loop in
    one `tf.function`. Prints seconds (median of `--repeats` after a warm-up) and ratio.
    """
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench_attacks")
    parser.add_argument("--model", default="cnn_rbf_mnist")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--nb-iter", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

    from keras_rbf import datasets, zoo
    from keras_rbf.attacks.strong import pgd_linf
    from keras_rbf.recipes import machine

    model = zoo.load(args.model)
    info = zoo.card(args.model)["dataset"]
    x, y = datasets.load(info["name"], **info.get("kwargs", {}))["test"]
    x, y = tf.constant(x[: args.n]), tf.constant(y[: args.n])
    eps, step = 0.1, 2.5 * 0.1 / args.nb_iter

    def eager():
        return projected_gradient_descent(lambda t: model(t, training=False), x, eps, step,
                                          args.nb_iter, np.inf, clip_min=0.0, clip_max=1.0,
                                          y=y, rand_init=False, sanity_checks=False)

    def compiled():
        return pgd_linf(model, x, y, eps, args.nb_iter, step, "ce", rand_init=False)

    rows = {}
    for label, fn in (("cleverhans (eager loop)", eager), ("keras_rbf (tf.function loop)", compiled)):
        fn()  # warm-up and tracing
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            np.asarray(fn())
            times.append(time.perf_counter() - start)
        rows[label] = float(np.median(times))
    a, b = (model(eager()), model(compiled()))
    agree = float(np.mean(np.argmax(a, -1) == np.argmax(b, -1)))
    print(f"PGD L-inf, {args.model}, {args.n} images, {args.nb_iter} steps, eps {eps}; "
          f"machine: {machine()}; TensorFlow {tf.__version__}")
    print("| implementation | seconds | ratio to compiled |\n|---|---|---|")
    base = rows["keras_rbf (tf.function loop)"]
    for label, sec in rows.items():
        print(f"| {label} | {sec:.2f} | {sec / base:.2f}x |")
    print(f"predictions on the two adversarial sets agree on {agree:.1%} of images "
          "(same deterministic start)")
    return 0
