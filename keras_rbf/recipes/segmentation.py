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
from dataclasses import dataclass

import keras

from keras_rbf import zoo
from keras_rbf.analysis.segmentation_metrics import scores
from keras_rbf.datasets import load_entry as load_data

# Shared with the segmentation report, which must not import training code: defined in
# the models and evaluation modules, re-exported here under the names callers use.
from keras_rbf.evaluate import evaluate_segmentation, predict_masks
from keras_rbf.evaluate import segmentation_live_fractions as rbf_live_fractions
from keras_rbf.models.compiling import compile_segmentation
from keras_rbf.recipes import engine

__all__ = [
    "main",
    "SegmentationRecipe",
    "load_data",
    "compile_segmentation",
    "predict_masks",
    "evaluate_segmentation",
    "rbf_live_fractions",
    "FAMILY",
]

FAMILY = "segmentation"


@dataclass
class SegmentationRecipe(engine.Recipe):
    """The U-Net / V-Net entries' recipe on the shared engine (`engine.Recipe` fields).

    Attributes:
        learning_rate, rho: ADADELTA settings (paper: 1.0, 0.95).
        data_dir: root of the data on disk (ISIC 2017); unused for synthetic data.
    """

    learning_rate: float = 1.0
    rho: float = 0.95
    data_dir: str | None = None
    family = FAMILY

    def data(self, info: dict) -> dict:
        return load_data(info["dataset"], self.data_dir)

    def build(self, info: dict, splits: dict) -> engine.Built:
        model = compile_segmentation(zoo.build(self.name), self.learning_rate, self.rho)
        return engine.Built(model, model)

    def fit_data(self, splits: dict) -> tuple:
        x_train, y_train = splits["train"]
        validation = splits.get("validation")
        if validation is not None:
            validation = (validation[0], validation[1].astype("int32"))
        kwargs = {"batch_size": self.batch_size, "shuffle": True, "validation_data": validation}
        return (x_train, y_train.astype("int32")), kwargs

    def measure(self, model: keras.Model, splits: dict) -> dict:
        x_test, y_test = splits["test"]
        return {
            "clean_test": scores(predict_masks(model, x_test), y_test),
            "n_train": int(len(splits["train"][0])),
            "rbf_live_fraction_test": rbf_live_fractions(model, x_test[:32]),
        }

    def settings(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "optimizer": f"Adadelta(learning_rate={self.learning_rate}, rho={self.rho})",
            "loss": "per-pixel softmax cross-entropy on logits",
        }


def main(name: str, argv: list[str] | None = None) -> int:
    """`keras-rbf train NAME [--epochs E] [--data-dir ROOT] ...` for segmentation entries."""
    parser = engine.train_parser(name, batch_size=16, learning_rate=1.0, rho=0.95)
    parser.add_argument(
        "--data-dir",
        default=None,
        help="ISIC 2017 root (default $KERAS_RBF_ISIC2017_DIR); unused for synthlesion",
    )
    args, epochs, command = engine.parse_train_args(parser, name, argv)
    recipe = SegmentationRecipe(
        **engine.common_fields(name, args, epochs, command),
        verbose=2,
        learning_rate=args.learning_rate,
        rho=args.rho,
        data_dir=args.data_dir,
    )
    engine.run(recipe)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
