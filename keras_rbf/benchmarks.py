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
    """`python -m evaluation.bench_attacks`: the strong suite's APGD vs ART's, one run.

    Both run APGD-CE then APGD-DLR (L-inf, 100 steps, one random start, initial step
    2 eps), the second on the images the first left standing, on the same model
    (`cnn_rbf_mnist` by default) and test images: ART's `AutoProjectedGradientDescent`
    through `TensorFlowV2Classifier` (eager NumPy), and `keras_rbf.attacks.APGD` (one
    compiled loop per run, broken images dropped at once). Prints seconds (after a
    warm-up that traces our loop), the speed ratio (goal: >= 5x), both robust
    accuracies and the CPU.
    """
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench_attacks")
    parser.add_argument("--model", default="cnn_rbf_mnist")
    parser.add_argument("--n", type=int, default=500, help="test images")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--nb-iter", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from keras_rbf import datasets, zoo
    from keras_rbf.recipes import machine

    model = zoo.load(args.model)
    info = zoo.card(args.model)["dataset"]
    data = datasets.load(info["name"], **info.get("kwargs", {}))
    # {"train", "test"} on main since issue 12; (train, test) before it.
    x, y = data["test"] if isinstance(data, dict) else data[1]
    x, y = np.asarray(x[: args.n], np.float32), np.asarray(y[: args.n], np.int64)
    print(f"APGD-CE then APGD-DLR, {args.model}, {len(x)} images, {args.nb_iter} steps; "
          f"machine: {machine()}; TensorFlow {tf.__version__}", flush=True)
    print("| eps | ART s | keras_rbf s | speed-up | ART robust acc | keras_rbf robust acc |")
    print("|---|---|---|---|---|---|")
    for eps in args.eps:
        ours_s, ours_acc = _time_apgd_pair(_ours_apgd(model, eps, args), model, x, y)
        art_s, art_acc = _time_apgd_pair(_art_apgd(model, eps, args), model, x, y)
        print(f"| {eps:g} | {art_s:.1f} | {ours_s:.1f} | {art_s / ours_s:.1f}x "
              f"| {art_acc:.3f} | {ours_acc:.3f} |", flush=True)
    return 0


def _time_apgd_pair(attacks: dict, model, x, y) -> tuple[float, float]:
    """Seconds and robust accuracy of `attacks["ce"]`, then `attacks["dlr"]` on what stands."""
    import numpy as np

    start = time.perf_counter()
    standing = np.argmax(model.predict(x, verbose=0), -1) == y
    for loss in ("ce", "dlr"):
        idx = np.flatnonzero(standing)
        if idx.size:
            adv = attacks[loss](x[idx], y[idx])
            standing[idx] = np.argmax(model.predict(adv, verbose=0), -1) == y[idx]
    return time.perf_counter() - start, float(standing.mean())


def _ours_apgd(model, eps, args) -> dict:
    """Our APGD-CE and APGD-DLR as `generate` functions, traced on a few images first."""
    import numpy as np

    from keras_rbf.attacks import APGD

    out = {}
    for loss in ("ce", "dlr"):
        attack = APGD(model, batch_size=args.batch_size, eps=eps, nb_iter=args.nb_iter,
                      loss=loss)
        probe = np.full((2, *model.input_shape[1:]), 0.5, np.float32)
        # Warm-up on images the model gets "right" (its own labels), so the loop is traced.
        attack.generate(probe, np.argmax(model.predict(probe, verbose=0), -1))
        out[loss] = attack.generate
    return out


def _art_apgd(model, eps, args) -> dict:
    """ART's APGD-CE and APGD-DLR as `generate` functions."""
    import numpy as np
    import tensorflow as tf
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    clf = TensorFlowV2Classifier(
        model, nb_classes=int(model.output_shape[-1]), input_shape=tuple(model.input_shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0))
    return {loss: AutoProjectedGradientDescent(
        clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=args.nb_iter, nb_random_init=1,
        batch_size=args.batch_size, loss_type=loss_type, verbose=False).generate
        for loss, loss_type in (("ce", "cross_entropy"), ("dlr", "difference_logits_ratio"))}
