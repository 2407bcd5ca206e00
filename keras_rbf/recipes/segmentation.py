"""Training recipe of the segmentation zoo entries (paper 5.2: ADADELTA lr 1.0, rho 0.95, batch 16).

`keras-rbf train unet_rbf_synthlesion` (or `python -m training.segmentation NAME`) trains
the entry's U-Net / V-Net on its card's data set with per-pixel softmax cross-entropy,
seeded and with op determinism, with `BackupAndRestore` checkpoints so an interrupted
run resumes; it writes the run to `--out-dir` (default `runs/<name>/`): weights,
`card.json` and `results.json` (clean test Dice/FPR/FNR as mean +- standard error, live
fraction of every RBF layer, per-epoch history, the exact command). It never writes
into the package; `keras-rbf zoo publish RUN_DIR` copies a run into a checkout's zoo.

The ISIC 2017 entries (`*_skin`) need the real data: `--data-dir ROOT` or
`$KERAS_RBF_ISIC2017_DIR` (see `keras_rbf.datasets.isic2017`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

from keras_rbf import datasets, zoo
from keras_rbf.analysis.segmentation_metrics import masks_from_logits, scores
from keras_rbf.errors import UserError
from keras_rbf.recipes import engine

__all__ = [
    "main",
    "train",
    "load_data",
    "compile_segmentation",
    "predict_masks",
    "evaluate_segmentation",
    "rbf_live_fractions",
    "FAMILY",
]

FAMILY = "segmentation"


def load_data(dataset: dict, data_dir: str | None = None) -> dict:
    """`{split: (images, masks)}` of a card's `dataset` entry.

    Args:
        dataset: the card's `{"name": ..., "kwargs": {...}}`.
        data_dir: root of a data set on disk (ISIC 2017); ignored for synthetic data.
    """
    kwargs = dict(dataset.get("kwargs", {}))
    if dataset["name"] == "isic2017":
        kwargs["data_dir"] = data_dir
        if "image_size" in kwargs:
            kwargs["image_size"] = tuple(kwargs["image_size"])
    return datasets.load(dataset["name"], **kwargs)


def compile_segmentation(
    model: keras.Model, learning_rate: float = 1.0, rho: float = 0.95
) -> keras.Model:
    """Compiles with the paper's ADADELTA and per-pixel softmax cross-entropy on logits."""
    model.compile(
        optimizer=keras.optimizers.Adadelta(learning_rate=learning_rate, rho=rho),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def predict_masks(model, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Binary masks `(N, H, W)` predicted by a logits model (or any callable) on `x`."""
    out = []
    for start in range(0, len(x), batch_size):
        out.append(keras.ops.convert_to_numpy(model(x[start : start + batch_size])))
    return masks_from_logits(np.concatenate(out))


def evaluate_segmentation(model, x: np.ndarray, y: np.ndarray, batch_size: int = 32) -> dict:
    """Dice, FPR, FNR (mean +- standard error over images) of a model on `(x, y)`."""
    return scores(predict_masks(model, x, batch_size), y)


def rbf_live_fractions(model: keras.Model, x: np.ndarray) -> dict[str, float]:
    """Live fraction (phi in (1e-3, 0.999)) of each RBF layer on inputs `x`."""
    from keras_rbf.evaluate import rbf_live_fractions as _live

    return {k: round(float(v), 4) for k, v in _live(model, x, batch_size=32).items()}


def train(
    name: str,
    epochs: int,
    batch_size: int = 16,
    learning_rate: float = 1.0,
    rho: float = 0.95,
    seed: int = 0,
    data_dir: str | None = None,
    out_dir: str | Path | None = None,
    command: str | None = None,
    strategy: str = "default",
    verbose: int | str = 2,
) -> dict:
    """Trains segmentation zoo entry `name` and writes the run to `out_dir`.

    Args:
        name: a zoo entry of family "segmentation".
        epochs: passes over the training split.
        batch_size: images per step (paper: 16).
        learning_rate, rho: ADADELTA settings (paper: 1.0, 0.95).
        seed: seeds weights and shuffling; op determinism is on.
        data_dir: root of the data on disk (ISIC 2017).
        out_dir: the run folder; default `runs/<name>` (`runs/<name>-seed<k>`).
        command: the command line recorded with the results.
        strategy: "default", "mirrored" or "multiworker" (see `keras_rbf.distribute`).
        verbose: Keras progress setting.

    Returns:
        The run's card.
    """
    from keras_rbf.distribute import is_chief

    info = zoo.card(name)
    if info.get("family") != FAMILY:
        raise UserError(f"{name!r} is not a segmentation zoo entry (family {info.get('family')!r})")
    run_dir, scope = engine.start(name, out_dir, seed, strategy)
    data = load_data(info["dataset"], data_dir)
    (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
    validation = data.get("validation")
    with scope.scope():
        model = compile_segmentation(zoo.build(name), learning_rate, rho)
    chief = is_chief(scope)
    history = engine.fit(
        model,
        run_dir,
        (x_train, y_train.astype("int32")),
        chief,
        worker=0 if chief else scope.cluster_resolver.task_id,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        verbose=verbose,
        validation_data=None
        if validation is None
        else (validation[0], validation[1].astype("int32")),
    )
    if not chief:
        return info  # only the chief writes
    info["training"].update(
        {
            "command": command or f"keras-rbf train {name} --epochs {epochs}",
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": f"Adadelta(learning_rate={learning_rate}, rho={rho})",
            "loss": "per-pixel softmax cross-entropy on logits",
        }
    )
    measured = {
        "seed": seed,
        "clean_test": scores(predict_masks(model, x_test), y_test),
        "n_train": int(len(x_train)),
        "rbf_live_fraction_test": rbf_live_fractions(model, x_test[:32]),
    }
    return engine.finish(run_dir, info, seed, model, info["training"]["command"], history, measured)


def main(name: str, argv: list[str] | None = None) -> int:
    """`keras-rbf train NAME [--epochs E] [--data-dir ROOT] ...` for segmentation entries."""
    parser = engine.train_parser(name, batch_size=16, learning_rate=1.0, rho=0.95)
    parser.add_argument(
        "--data-dir",
        default=None,
        help="ISIC 2017 root (default $KERAS_RBF_ISIC2017_DIR); unused for synthlesion",
    )
    args, epochs, command = engine.parse_train_args(parser, name, argv)
    train(
        name,
        epochs=epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        rho=args.rho,
        seed=args.seed,
        data_dir=args.data_dir,
        out_dir=args.out_dir,
        command=command,
        strategy=args.strategy,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
