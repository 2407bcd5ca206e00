"""Training recipe of the CNN zoo entries (paper 5.1: Adam lr 1e-3, batch 128).

`keras-rbf train cnn_rbf_mnist` (or `python -m training.cnn cnn_rbf_mnist`) trains the
entry's architecture on its card's data set on the shared engine
(`keras_rbf.recipes.engine`: seeded, deterministic, resumable) and writes the run to
`--out-dir` (default `runs/<name>/`): weights, `card.json`, `results.json` (clean test
accuracy, live RBF fractions, per-epoch history). It never writes into the package;
`keras-rbf zoo publish RUN_DIR` copies a run into a source checkout's zoo.

ADVT entries (role "ADVT") carry `training.adversarial` in their card: the attack from
`keras_rbf.attacks` and its settings, the share of each batch it replaces and the epochs
over which eps ramps up. They train on the same engine through
`defenses.adversarial_training.AdversarialTrainer`, which compiles the attack into the
train step.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass, field

import keras
import numpy as np

from keras_rbf import datasets, zoo
from keras_rbf.callbacks import RBFMonitor, rbf_layers, rbf_live_fractions
from keras_rbf.errors import UserError
from keras_rbf.evaluate import accuracy
from keras_rbf.recipes import engine

# The step schedule's factor (`--lr-drop-epoch`): the usual tenfold drop.
LR_DROP = 0.1
ADVERSARIAL_KEYS = {"attack", "settings", "adversarial_fraction", "eps_ramp_epochs"}

__all__ = ["main", "CNNRecipe", "adapt_rbf_centers", "adversarial_setup"]


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


def adversarial_setup(model: keras.Model, adversarial: dict, epochs: int):
    """The trainer and eps schedule of a card's `training.adversarial` block.

    Args:
        model: the model to train.
        adversarial: `{"attack": name in keras_rbf.attacks.ATTACKS, "settings": {...},
            "adversarial_fraction": share of each batch (default 1, Madry et al.),
            "eps_ramp_epochs": epochs over which eps grows linearly to its value}`.
        epochs: epochs of the run.

    Returns:
        `(AdversarialTrainer, [EpsSchedule])`.
    """
    from keras_rbf.attacks import make
    from keras_rbf.defenses.adversarial_training import AdversarialTrainer, EpsSchedule, ramp

    unknown = set(adversarial) - ADVERSARIAL_KEYS
    if unknown:
        raise UserError(f"unknown keys {sorted(unknown)} in training.adversarial")
    attack = make(adversarial["attack"], model, **adversarial.get("settings", {}))
    trainer = AdversarialTrainer(model, attack, adversarial.get("adversarial_fraction", 1.0))
    eps = attack.settings["eps"]
    schedule = ramp(eps, epochs, adversarial.get("eps_ramp_epochs", 0))
    return trainer, [EpsSchedule(schedule)]


@dataclass
class CNNRecipe(engine.Recipe):
    """The CNN entries' recipe on the shared engine (see `engine.Recipe` for the fields).

    Attributes:
        learning_rate: Adam's learning rate.
        lr_drop_epoch: from this many finished epochs on, the rate is `LR_DROP` times
            smaller (a step schedule keeps the prefix property selection relies on: the
            first k epochs of a longer run are the k-epoch run); None keeps it constant.
        adapt_centers: initialize RBF centers by k-means on 1,024 training images.
        builder_overrides: builder arguments replacing the card's (recipe sweeps).
    """

    learning_rate: float = 1e-3
    lr_drop_epoch: int | None = None
    adapt_centers: bool = True
    builder_overrides: dict = field(default_factory=dict)
    family = "cnn"

    def data(self, info: dict) -> dict:
        data = info["dataset"]
        # MNIST without its full file falls back to the shipped test split and says so on
        # stderr; training cannot use it and `require` refuses in one line, so the
        # fallback's notice would only be a second line before that error.
        with contextlib.redirect_stderr(io.StringIO()):
            splits = datasets.load(data["name"], **data.get("kwargs", {}))
        return datasets.require(data["name"], splits)

    def build(self, info: dict, splits: dict) -> engine.Built:
        model = zoo.build(self.name, **self.builder_overrides)
        self.adapted = bool(self.adapt_centers and rbf_layers(model))
        if self.adapted:
            adapt_rbf_centers(model, splits["train"][0][:1024], seed=self.seed)
        fitted, callbacks = model, []
        adversarial = info["training"].get("adversarial")
        if adversarial:
            fitted, callbacks = adversarial_setup(model, adversarial, self.epochs)
        fitted.compile(
            optimizer=keras.optimizers.Adam(self._rate(len(splits["train"][1]))),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        monitor = RBFMonitor(splits["validation"][0][:256], model=model)
        return engine.Built(fitted, model, [*callbacks, monitor])

    def _rate(self, n_train: int):
        """Adam's rate: a float, or a step schedule dropping after `lr_drop_epoch` epochs."""
        if self.lr_drop_epoch is None:
            return self.learning_rate
        steps_per_epoch = -(-n_train // self.batch_size)  # fit's last batch is partial
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [self.lr_drop_epoch * steps_per_epoch],
            [self.learning_rate, self.learning_rate * LR_DROP],
        )

    def fit_data(self, splits: dict) -> tuple:
        # Validation accuracy every epoch: recipes (epochs, rates) are chosen on it, never
        # on the test split, which only `measure` touches.
        kwargs = {"validation_data": splits["validation"], "batch_size": self.batch_size}
        return splits["train"], {**kwargs, "shuffle": True}

    def measure(self, model: keras.Model, splits: dict) -> dict:
        (x_val, y_val), (x_test, y_test) = splits["validation"], splits["test"]
        return {
            "validation_accuracy": accuracy(model, x_val, y_val),
            "n_validation": int(len(x_val)),
            "clean_test_accuracy": accuracy(model, x_test, y_test),
            "n_test": int(len(x_test)),
            "rbf_live_fraction_test": rbf_live_fractions(model, x_test[:256]),
        }

    def settings(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "optimizer": f"Adam(learning_rate={self.learning_rate})",
            "lr_drop_epoch": self.lr_drop_epoch,
            "adapt_centers": self.adapted,
        }


def main(name: str, argv: list[str] | None = None) -> int:
    """`keras-rbf train NAME [--epochs E] [--seed S] [--out-dir DIR] ...` for CNN entries."""
    from keras_rbf.cli_args import positive_int
    from keras_rbf.publish import default_run_dir

    # The card's recipe is the default: PROP entries may train at another rate than ORIG's.
    training = zoo.card(name)["training"]
    learning_rate = training.get("learning_rate", 1e-3)
    parser = engine.train_parser(name, batch_size=128, learning_rate=learning_rate)
    parser.add_argument(
        "--lr-drop-epoch",
        type=positive_int,
        default=training.get("lr_drop_epoch"),
        help=f"multiply the rate by {LR_DROP} after this many epochs (default: the "
        "card's training.lr_drop_epoch, else a constant rate)",
    )
    parser.add_argument(
        "--no-adapt-centers",
        action="store_true",
        help="keep the default center initialization instead of k-means",
    )
    args, epochs, command = engine.parse_train_args(parser, name, argv)
    recipe = CNNRecipe(
        **engine.common_fields(name, args, epochs, command),
        learning_rate=args.learning_rate,
        lr_drop_epoch=args.lr_drop_epoch,
        adapt_centers=not args.no_adapt_centers,
    )
    info = engine.run(recipe)
    print(
        f"wrote {info['name']} seed {args.seed} to "
        f"{args.out_dir or default_run_dir(name, args.seed)}; publish it with "
        f"`keras-rbf zoo publish RUN_DIR`",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
