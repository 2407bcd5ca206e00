"""Speed and memory of RBFMapping: `keras-rbf bench` / `python -m evaluation.bench_rbf`.

For each shape, forward + backward (gradients of a scalar loss with respect to the input
and every variable, one `tf.function` per case) of:

- ``rbf``: `RBFMapping(units=P, num_centers=P)` as shipped;
- ``dense``: `Dense(P)` on the same input (the floor a layer of that size can reach);
- ``naive``: the textbook formula on an explicit `(N, P, K)` difference tensor (only
  where that tensor stays under `--naive-max-mb`);
- ``weights``: the layer's weight-only part alone (Cholesky factorization, triangular
  solve, transform of the centers; `RBFMapping._weight_terms`), forward + backward;
- ``gemm``: one `(N, K) x (K, K)` matmul, forward only, the machine's rate at that shape.

All cases of a shape are timed in this one process, interleaved run by run (so that
load from other processes hits them alike), and reported as ratios with the median of
`--repeats` runs after a warm-up. Shapes are the inputs as the models see them (rank-4
2D feature maps, rank-5 3D maps) besides flat `(N, K)` ones. Peak memory is measured
per case in its own subprocess (skip with `--no-memory`): on CPU the increase of the
process's peak resident set over its size before the first call, on GPU TensorFlow's
peak-allocation counter. Progress goes to stderr, the tables to stdout.

Arithmetic (FLOPs) is counted from the shapes: a matmul `(m, k) x (k, n)` is `2 m k n`
and an elementwise op one per element; see `rbf_flops` and `dense_flops`.

The attack benchmark (APGD against ART's) is `keras_rbf.attack_benchmark`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

from keras_rbf.cli_args import ArgumentParser, positive_int

__all__ = ["QUICK_SHAPES", "SHAPES", "dense_flops", "main", "peak_memory", "rbf_flops"]

# name -> input shape (..., K) as the models see it; P = units = K.
SHAPES = {
    "mnist_block_flat": (128 * 14 * 14, 64),
    "mnist_block_2d": (128, 14, 14, 64),  # cnn_rbf_mnist: first conv block, batch 128
    "unet_block_flat": (16 * 64 * 64, 64),
    "unet_block_2d": (16, 64, 64, 64),  # U-Net block at 64 x 64, 64 channels, batch 16
    # 3D V-Net (models/vnet.py, base_filters=8): third stage of a 64 x 128 x 128 volume
    # (32 channels at 16 x 32 x 32), batch 2.
    "vnet_block_3d": (2, 16, 32, 32, 32),
    "irv2_top": (32, 1536),  # Inception-ResNet-v2 top (1536 features), batch 32
}
QUICK_SHAPES = {
    "mnist_block_flat": (2 * 8 * 8, 16),
    "mnist_block_2d": (2, 8, 8, 16),
    "unet_block_flat": (16 * 16, 16),
    "unet_block_2d": (1, 16, 16, 16),
    "vnet_block_3d": (1, 4, 8, 8, 8),
    "irv2_top": (4, 96),
}
CASES = ("rbf", "dense", "naive", "weights", "gemm")
MEMORY_CASES = ("rbf", "naive", "dense")


def rbf_flops(n: int, k: int, p: int, units: int) -> tuple[int, int]:
    """Forward + backward FLOPs of `RBFMapping` as implemented (`rbf_activations`).

    Args:
        n: feature vectors (all positions of all images); k: channels; p: centers;
        units: outputs.

    Returns:
        `(input_dependent, weight_only)`. The weight-only count (`A A^T`, Cholesky
        `k^3 / 3`, triangular solve with a `k x k` right-hand side, `T^T T`, `Psi^{-1} C^T`)
        takes the backward pass as twice the forward, the rule for matmuls.
    """
    matmuls = 2 * n * (k * k + (k + 1) * p + p * units)  # y, logits, output
    matmuls += 2 * n * (2 * p * units + p + p * k + k * k + (k + 1) * p)  # backward
    elementwise = n * (2 * k + 3 * p + units) + n * (2 * p + 4 * k + units)
    forward_weights = 2 * k**3 + k**3 // 3 + k**3 + 2 * k**3 + 2 * k * k * p
    return matmuls + elementwise, 3 * forward_weights


def dense_flops(n: int, k: int, units: int) -> int:
    """Forward + backward FLOPs of `Dense(units)` on `n` vectors of size `k`."""
    return 6 * n * k * units + 2 * n * units


def _progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _naive_mb(shape: tuple) -> float:
    n = math.prod(shape[:-1])
    return n * shape[-1] * shape[-1] * 4 / 2**20


def _build_case(method: str, shape: tuple, xla: bool = False):
    """A compiled zero-argument callable for one case, and the tensors it returns."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_rbf.layers import RBFMapping, squared_distances

    k = shape[-1]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    if method == "gemm":
        w = tf.constant(rng.normal(size=(k, k)).astype("float32"))
        flat = tf.reshape(x, (-1, k))
        fn = tf.function(lambda: tf.matmul(flat, w), jit_compile=xla)
        return lambda: [fn()]
    layer = keras.layers.Dense(k) if method == "dense" else RBFMapping(units=k, num_centers=k)
    layer.build((None,) + tuple(shape[1:]))
    variables = list(layer.trainable_variables)
    if method == "weights":
        variables = [layer.centers, layer.psi_factor, layer.beta]
        probes = [
            tf.constant(rng.normal(size=t.shape).astype("float32"))
            for t in layer._weight_terms("float32")
        ]

        def loss_of(_):
            return sum(tf.reduce_sum(t * r) for t, r in zip(layer._weight_terms("float32"), probes))
    elif method == "naive":

        def loss_of(inputs):
            flat = tf.reshape(inputs, (-1, k))
            dist = squared_distances(
                flat, layer.centers, layer.psi_factor, layer.epsilon, method="broadcast"
            )
            return tf.reduce_sum(
                tf.square(tf.matmul(tf.exp(-layer.beta * dist), layer.kernel) + layer.bias)
            )
    else:

        def loss_of(inputs):
            return tf.reduce_sum(tf.square(layer(inputs)))

    @tf.function(jit_compile=xla)
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = loss_of(inputs)
        sources = variables if method == "weights" else [inputs] + variables
        return [loss] + tape.gradient(loss, sources)

    return lambda: step(x)


def _run(fn) -> None:
    for t in fn():
        t.numpy()  # wait for the result (and copy it back from an accelerator)


def _time_shape(shape: tuple, methods: list[str], repeats: int, xla: bool) -> dict:
    """Median seconds per case, the cases interleaved run by run."""
    import numpy as np

    fns = {}
    for method in methods:
        fns[method] = _build_case(method, shape, xla)
        _run(fns[method])  # tracing and warm-up outside the measured runs
    times = {m: [] for m in methods}
    for _ in range(repeats):
        for method, fn in fns.items():
            start = time.perf_counter()
            _run(fn)
            times[method].append(time.perf_counter() - start)
    return {m: float(np.median(t)) for m, t in times.items()}


def _rss_mb(field: str) -> float | None:
    """`VmRSS` (current) or `VmHWM` (peak) of this process in MB, from /proc (Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Resets this process's peak resident set (`VmHWM`) to its current size (Linux >= 4.0).

    Without it the peak left by importing TensorFlow hides allocations smaller than it.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_memory(method: str, shape: tuple) -> dict:
    """Peak memory (MB) of one forward + backward of a case, in this process.

    Meant to run in a fresh process (`--case`). On CPU: the process's peak resident set
    during the first call (tracing included) minus its size just before; on GPU:
    TensorFlow's peak-allocation counter.
    """
    import resource

    import tensorflow as tf

    fn = _build_case(method, shape)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
        _run(fn)
        return {"peak_mb": tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20}
    if _reset_peak_rss() and _rss_mb("VmRSS") is not None:
        before = _rss_mb("VmRSS")
        _run(fn)
        # The kernel updates its counters in batches: a case that allocates nothing
        # measurable can read a few KiB below zero.
        return {"peak_mb": max(0.0, _rss_mb("VmHWM") - before)}
    # Elsewhere only the lifetime peak is known; it can hide allocations below it.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    _run(fn)
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - before}


def _memory_in_subprocess(method: str, shape: tuple) -> dict:
    case = f"{method}:{'x'.join(str(d) for d in shape)}"
    out = subprocess.run(
        [sys.executable, "-m", "keras_rbf.benchmarks", "--case", case],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines() or ["no output"]
        return {"error": lines[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _shape_report(name: str, shape: tuple, sec: dict, mem: dict) -> dict:
    n, k = math.prod(shape[:-1]), shape[-1]
    rbf_in, rbf_w = rbf_flops(n, k, k, k)
    dense = dense_flops(n, k, k)
    row = {
        "shape": name,
        "input": list(shape),
        "n": n,
        "k": k,
        "p": k,
        "seconds": sec,
        "rbf_flops": rbf_in + rbf_w,
        "rbf_weight_only_flops": rbf_w,
        "dense_flops": dense,
        "arithmetic_ratio": (rbf_in + rbf_w) / dense,
        "rbf_over_dense": sec["rbf"] / sec["dense"],
        "weight_only_share": sec["weights"] / sec["rbf"],
        "weight_only_floor": sec["weights"] / sec["dense"],
        "rbf_gflops": (rbf_in + rbf_w) / sec["rbf"] / 1e9,
        "gemm_gflops": 2 * n * k * k / sec["gemm"] / 1e9,
        "peak_mb": mem,
    }
    row["rate_vs_gemm"] = row["rbf_gflops"] / row["gemm_gflops"]
    if "naive" in sec:
        row["naive_over_rbf"] = sec["naive"] / sec["rbf"]
    return row


def _ms(row: dict, method: str) -> str:
    return f"{row['seconds'][method] * 1e3:.1f}" if method in row["seconds"] else "-"


def _print_time_table(rows: list[dict]) -> None:
    print(
        "| shape | input | rbf ms | dense ms | rbf/dense (weight-only floor) | naive ms "
        "| naive/rbf | weight-only ms | weight-only share of rbf |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        naive = f"{r['naive_over_rbf']:.1f}x" if "naive_over_rbf" in r else "-"
        print(
            f"| {r['shape']} | {tuple(r['input'])} | {_ms(r, 'rbf')} | {_ms(r, 'dense')} "
            f"| {r['rbf_over_dense']:.2f}x ({r['weight_only_floor']:.2f}x) | {_ms(r, 'naive')} "
            f"| {naive} | {_ms(r, 'weights')} | {r['weight_only_share']:.0%} |"
        )


def _print_flop_table(rows: list[dict]) -> None:
    print(
        "| shape | N | K=P=units | rbf GFLOP (weight-only) | dense GFLOP | arithmetic ratio "
        "| rbf GFLOP/s | GEMM (N,K)x(K,K) GFLOP/s | rbf rate / GEMM rate |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['shape']} | {r['n']} | {r['k']} | {r['rbf_flops'] / 1e9:.3f} "
            f"({r['rbf_weight_only_flops'] / 1e9:.3f}) | {r['dense_flops'] / 1e9:.3f} "
            f"| {r['arithmetic_ratio']:.2f}x | {r['rbf_gflops']:.1f} | {r['gemm_gflops']:.1f} "
            f"| {r['rate_vs_gemm']:.0%} |"
        )


def _mb(mem: dict, method: str) -> str:
    if method not in mem:
        return "-"
    return f"{mem[method]['peak_mb']:.0f}" if "peak_mb" in mem[method] else "error"


def _print_memory_table(rows: list[dict]) -> None:
    print("| shape | rbf peak MB | naive peak MB | dense peak MB | naive/rbf memory |")
    print("|---|---|---|---|---|")
    for r in rows:
        mem = r["peak_mb"]
        ratio = "-"
        if "peak_mb" in mem.get("naive", {}) and mem["rbf"].get("peak_mb", 0) > 0:
            ratio = f"{mem['naive']['peak_mb'] / mem['rbf']['peak_mb']:.1f}x"
        print(
            f"| {r['shape']} | {_mb(mem, 'rbf')} | {_mb(mem, 'naive')} | {_mb(mem, 'dense')} "
            f"| {ratio} |"
        )
    for r in rows:
        for method, value in r["peak_mb"].items():
            if "error" in value:
                print(f"{r['shape']}/{method} memory run failed: {value['error']}")


def _print_tables(rows: list[dict], header: str) -> None:
    print(header)
    print()
    _print_time_table(rows)
    print()
    _print_flop_table(rows)
    if any(r["peak_mb"] for r in rows):
        print()
        _print_memory_table(rows)


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="keras-rbf bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--repeats", type=positive_int, default=7, help="timed runs per case")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, 2 repeats: checks that the benchmark runs",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory subprocesses"
    )
    parser.add_argument(
        "--naive-max-mb",
        type=float,
        default=512.0,
        help="run the naive formula only where its (N, P, K) tensor is "
        "at most this many MB (default 512)",
    )
    parser.add_argument(
        "--xla", action="store_true", help="compile every case with XLA (jit_compile=True)"
    )
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)  # subprocess mode
    return parser


def _measure(args: argparse.Namespace, shapes: dict, repeats: int) -> list[dict]:
    """One report row per shape of `args.shapes`: timings, then peak memory."""
    rows = []
    for i, name in enumerate(args.shapes, 1):
        shape = shapes[name]
        methods = [m for m in CASES if m != "naive" or _naive_mb(shape) <= args.naive_max_mb]
        _progress(
            f"{i}/{len(args.shapes)} {name} {shape}: timing {', '.join(methods)} "
            f"({repeats} interleaved runs)"
        )
        sec = _time_shape(shape, methods, repeats, args.xla)
        mem = {}
        if not args.no_memory:
            for method in (m for m in MEMORY_CASES if m in methods):
                _progress(f"{i}/{len(args.shapes)} {name}: peak memory of {method} (own process)")
                mem[method] = _memory_in_subprocess(method, shape)
        rows.append(_shape_report(name, shape, sec, mem))
        _progress(f"{i}/{len(args.shapes)} {name}: rbf/dense {rows[-1]['rbf_over_dense']:.2f}x")
    return rows


def main(argv: list[str] | None = None) -> int:
    """`keras-rbf bench`: times every shape, prints the tables (see the module docstring).

    Args:
        argv: command-line arguments (default `sys.argv[1:]`).

    Returns:
        The exit status, 0.
    """
    args = _parser().parse_args(argv)
    if args.case:
        method, dims = args.case.split(":")
        print(json.dumps(peak_memory(method, tuple(int(d) for d in dims.split("x")))))
        return 0

    import tensorflow as tf

    from keras_rbf.recipes import machine

    repeats = 2 if args.quick else args.repeats
    rows = _measure(args, QUICK_SHAPES if args.quick else SHAPES, repeats)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    _print_tables(
        rows,
        (
            f"RBFMapping forward+backward vs Dense on the same input, median of {repeats} "
            f"interleaved runs after warm-up{', XLA' if args.xla else ''}\n"
            f"machine: {machine()}; device: {device}; TensorFlow {tf.__version__}"
            f"{'; QUICK sizes (not a measurement)' if args.quick else ''}"
        ),
    )
    if args.json:
        summary = {"machine": machine(), "device": device, "tensorflow": tf.__version__}
        summary.update(repeats=repeats, xla=args.xla, quick=args.quick, rows=rows)
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
