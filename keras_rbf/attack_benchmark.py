"""The strong suite vs the reference libraries: `python -m evaluation.bench_attacks`.

`--against torchattacks` (the default): AutoAttack's standard version, ours vs
torchattacks' on the same model (`keras_rbf.autoattack_benchmark`). `--against art`:

Both run APGD-CE then APGD-DLR (L-inf, 100 steps, one random start, initial step 2 eps),
the second on the images the first left standing, on the same model (`cnn_rbf_mnist` by
default) and test images: ART's `AutoProjectedGradientDescent` through
`TensorFlowV2Classifier` (eager NumPy), and `keras_rbf.attacks.APGD` (one compiled loop
per run, broken images dropped at once). Prints seconds (after a warm-up that traces our
loop), the speed ratio (goal: >= 5x), both robust accuracies and the CPU.

The layer's own speed benchmark is `keras_rbf.benchmarks` (`keras-rbf bench`).
"""

from __future__ import annotations

import argparse
import importlib.util
import time

from keras_rbf.cli_args import ArgumentParser, positive_int

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m evaluation.bench_attacks")
    parser.add_argument("--against", choices=["torchattacks", "art"], default="torchattacks")
    parser.add_argument(
        "--model",
        default=None,
        help="zoo entry (default: cnn_mnist_advt against torchattacks, cnn_rbf_mnist against ART)",
    )
    parser.add_argument(
        "--n-test",
        type=positive_int,
        default=None,
        help="test images (default 200 against torchattacks, 500 against ART)",
    )
    parser.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=None,
        help="radii (default 0.3 against torchattacks, 0.1 0.3 against ART)",
    )
    parser.add_argument(
        "--norm", choices=["Linf", "L2"], default="Linf", help="threat model (against torchattacks)"
    )
    parser.add_argument("--nb-iter", type=positive_int, default=100)
    parser.add_argument(
        "--batch-size", type=positive_int, default=500, help="attack batch (default 500)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the comparison of the module docstring on `argv` (default `sys.argv[1:]`),
    prints one row per eps and returns the exit status, 0."""
    parser = _parser()
    args = parser.parse_args(argv)
    need = "torchattacks" if args.against == "torchattacks" else "art"
    if importlib.util.find_spec(need) is None:
        parser.error(
            f"the benchmark compares with {args.against}, which is not installed; see the "
            "README's test command"
        )
    theirs_first = args.against == "torchattacks"
    args.model = args.model or ("cnn_mnist_advt" if theirs_first else "cnn_rbf_mnist")
    args.n_test = args.n_test or (200 if theirs_first else 500)
    args.eps = args.eps or ([0.3] if theirs_first else [0.1, 0.3])

    import numpy as np
    import tensorflow as tf

    from keras_rbf import zoo
    from keras_rbf.evaluate import load_test_split, sample_indices
    from keras_rbf.recipes import machine

    model = zoo.load(args.model)
    info = zoo.entry(args.model).dataset
    x, y = load_test_split(info["name"], **info.get("kwargs", {}))
    idx = sample_indices(len(x), args.n_test)  # the reports' fixed sample
    x, y = np.asarray(x[idx], np.float32), np.asarray(y[idx], np.int64)
    if theirs_first:
        return _torchattacks_rows(model, x, y, args, machine())
    print(
        f"APGD-CE then APGD-DLR, {args.model}, {len(x)} images, {args.nb_iter} steps; "
        f"machine: {machine()}; TensorFlow {tf.__version__}",
        flush=True,
    )
    print("| eps | ART s | keras_rbf s | speed-up | ART robust acc | keras_rbf robust acc |")
    print("|---|---|---|---|---|---|")
    for eps in args.eps:
        ours_s, ours_acc = _time_apgd_pair(_ours_apgd(model, eps, args), model, x, y)
        art_s, art_acc = _time_apgd_pair(_art_apgd(model, eps, args), model, x, y)
        print(
            f"| {eps:g} | {art_s:.1f} | {ours_s:.1f} | {art_s / ours_s:.1f}x "
            f"| {art_acc:.3f} | {ours_acc:.3f} |",
            flush=True,
        )
    return 0


def _torchattacks_rows(model, x, y, args, cpu: str) -> int:
    from keras_rbf.autoattack_benchmark import compare

    print(
        f"AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square 5,000), {args.model}, "
        f"{len(x)} images, {args.norm}; machine: {cpu}",
        flush=True,
    )
    print(
        "| eps | torchattacks s | keras_rbf s | ratio | torchattacks robust | keras_rbf robust "
        "| keras_rbf s per component |"
    )
    print("|---|---|---|---|---|---|---|")
    for eps in args.eps:
        r = compare(model, x, y, args.norm, eps)
        ours, theirs = r["ours"], r["torchattacks"]
        comps = ", ".join(f"{k} {v:.1f}" for k, v in ours["component_seconds"].items())
        print(
            f"| {eps:g} | {theirs['seconds']:.1f} | {ours['seconds']:.1f} | {r['ratio']:.2f} "
            f"| {theirs['robust']:.3f} | {ours['robust']:.3f} | {comps} |",
            flush=True,
        )
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
        attack = APGD(model, batch_size=args.batch_size, eps=eps, nb_iter=args.nb_iter, loss=loss)
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
        model,
        nb_classes=int(model.output_shape[-1]),
        input_shape=tuple(model.input_shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
    return {
        loss: AutoProjectedGradientDescent(
            clf,
            norm=np.inf,
            eps=eps,
            eps_step=2 * eps,
            max_iter=args.nb_iter,
            nb_random_init=1,
            batch_size=args.batch_size,
            loss_type=loss_type,
            verbose=False,
        ).generate
        for loss, loss_type in (("ce", "cross_entropy"), ("dlr", "difference_logits_ratio"))
    }
