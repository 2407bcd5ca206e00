"""Training recipe of the CNN zoo entries (paper 5.1: Adam lr 1e-3, batch 128).

`keras-rbf train cnn_rbf_mnist` (or `python -m training.cnn cnn_rbf_mnist`) trains the
entry's architecture on its card's data set, seeded and deterministic, with
`BackupAndRestore` checkpoints so an interrupted run resumes, then writes the weight
file, `history.json` (per-epoch loss, live RBF fractions, Psi changes) and updates the
card (sha256, clean test accuracy, seconds per epoch, the exact command).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import keras
import numpy as np

from keras_rbf import datasets, zoo
from keras_rbf.callbacks import EpochTimer, RBFMonitor, rbf_layers, rbf_live_fractions
from keras_rbf.evaluate import accuracy
from keras_rbf.recipes import machine

__all__ = ["main", "train", "adapt_rbf_centers", "evaluate_accuracy"]


# One accuracy for the package (keras_rbf.evaluate); the old name stays importable.
evaluate_accuracy = accuracy


def adapt_rbf_centers(model: keras.Model, x: np.ndarray, seed: int = 0) -> None:
    """Places every RBF layer's centers by k-means on its own inputs for images `x`.

    Layers are adapted in order, each after the ones before it, since a layer's input
    depends on the RBF blocks upstream. Widths keep the layer's default rule instead of
    `1 / (2 median D)` of these features: the features of the untrained conv layers sit
    tightly around their k-means centers and move away within the first epoch, and
    widths fitted to them then kill every unit (measured: all phi = 0 after one epoch).
    """
    for layer in rbf_layers(model):
        feats = keras.Model(model.inputs, layer.input).predict(x, batch_size=256, verbose=0)
        layer.adapt(feats, seed=seed, set_beta=False)


def train(
    name: str,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    adapt_centers: bool = True,
    out_dir: str | Path | None = None,
    backup_dir: str | Path | None = None,
    command: str | None = None,
    strategy: str = "default",
    verbose: int | str = "auto",
) -> dict:
    """Trains zoo entry `name` and writes its weights, history and updated card.

    Args:
        name: a CNN zoo entry.
        epochs: passes over the training split.
        batch_size: global batch size.
        learning_rate: Adam's learning rate.
        seed: seeds weights, shuffling and k-means; runs with op determinism on.
        adapt_centers: initialize RBF centers/widths by k-means on 1,024 training images.
        out_dir: where weights, history and card go; default the entry's zoo folder.
        backup_dir: `BackupAndRestore` folder; default `checkpoints/<name>`.
        command: the command line recorded in the card.
        strategy: "default", "mirrored" or "multiworker" (see `keras_rbf.distribute`).
        verbose: Keras progress bar setting.

    Returns:
        The card as written.
    """
    import tensorflow as tf

    from keras_rbf.distribute import get_strategy, is_chief

    info = zoo.card(name)
    if info.get("family") != "cnn":
        raise ValueError(f"{name!r} is not a CNN zoo entry (family {info.get('family')!r})")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # Before any TensorFlow op: MultiWorkerMirroredStrategy can only start first.
    scope = get_strategy(strategy)
    data = info["dataset"]
    (x_train, y_train), (x_test, y_test) = datasets.load(data["name"], **data.get("kwargs", {}))
    with scope.scope():
        model = zoo.build(name)
        if adapt_centers and rbf_layers(model):
            adapt_rbf_centers(model, x_train[:1024], seed=seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    monitor = RBFMonitor(x_test[:256])
    timer = EpochTimer()
    backup_dir = Path(backup_dir or Path("checkpoints") / name)
    chief = is_chief(scope)
    if not chief:
        backup_dir = backup_dir / f"worker{scope.cluster_resolver.task_id}"
    fit = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
        callbacks=[keras.callbacks.BackupAndRestore(str(backup_dir)), monitor, timer],
        verbose=verbose,
    )
    if not chief:
        return info  # only the chief writes weights, history and card
    out_dir = Path(out_dir or zoo.card_path(name).parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / f"{name}.weights.h5"
    # Saved from an uncompiled twin so the file holds the model's weights only, not
    # Adam's two moment slots (which would triple its size).
    twin = zoo.build(name)
    twin.set_weights(model.get_weights())
    twin.save_weights(str(weights_path))
    accuracy = evaluate_accuracy(model, x_test, y_test)
    history = {
        "epochs": epochs,
        "loss": [float(v) for v in fit.history.get("loss", [])],
        "accuracy": [float(v) for v in fit.history.get("accuracy", [])],
        "seconds_per_epoch": timer.seconds,
        **monitor.history,
    }
    (out_dir / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    info["weights"] = {
        "file": weights_path.name,
        "sha256": zoo.sha256(weights_path),
        "url": (info.get("weights") or {}).get("url"),
    }
    info["training"].update(
        {
            "command": command or f"keras-rbf train {name} --epochs {epochs}",
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": f"Adam(learning_rate={learning_rate})",
            "seed": seed,
            "adapt_centers": bool(adapt_centers and rbf_layers(model)),
            "seconds_per_epoch_median": float(np.median(timer.seconds)) if timer.seconds else None,
            "machine": machine(),
        }
    )
    info.setdefault("metrics", {})
    info["metrics"].update(
        {
            "clean_test_accuracy": accuracy,
            "n_test": int(len(x_test)),
            "rbf_live_fraction_test": rbf_live_fractions(model, x_test[:256]),
        }
    )
    (out_dir / "card.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(name: str, argv: list[str] | None = None) -> int:
    """`keras-rbf train NAME [--epochs E] [--seed S] ...` for CNN entries."""
    from keras_rbf.distribute import add_strategy_argument

    parser = argparse.ArgumentParser(prog=f"keras-rbf train {name}")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: the card's training.epochs")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-adapt-centers", action="store_true",
                        help="keep the default center initialization instead of k-means")
    parser.add_argument("--out-dir", default=None, help="default: the entry's zoo folder")
    parser.add_argument("--backup-dir", default=None)
    add_strategy_argument(parser)
    args = parser.parse_args(argv)
    epochs = args.epochs or zoo.card(name)["training"]["epochs"]
    command = "keras-rbf train " + " ".join(shlex.quote(a) for a in [name, *(argv or [])])
    info = train(
        name, epochs=epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, adapt_centers=not args.no_adapt_centers, out_dir=args.out_dir,
        backup_dir=args.backup_dir, command=command, strategy=args.strategy,
    )
    print(json.dumps({"name": name, **info["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
