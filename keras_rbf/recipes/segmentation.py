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

from keras_rbf import zoo
from keras_rbf.analysis.segmentation_metrics import scores
from keras_rbf.datasets import load_entry as load_data
from keras_rbf.errors import UserError

# Shared with the segmentation report, which must not import training code: defined in
# the models and evaluation modules, re-exported here under the names callers use.
from keras_rbf.evaluate import evaluate_segmentation, predict_masks
from keras_rbf.evaluate import segmentation_live_fractions as rbf_live_fractions
from keras_rbf.models.compiling import compile_segmentation
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
