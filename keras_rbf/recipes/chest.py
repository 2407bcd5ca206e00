"""Training recipe of the CHEST zoo entries (Inception-ResNet-v2, paper section 5.1).

RMSProp with decay (rho) 0.9 and epsilon 1.0, initial learning rate 0.045 decayed by a
factor 0.94 every 2 epochs (staircase), batch size 4, binary softmax cross-entropy on
logits. Keras 3's RMSprop divides by `sqrt(velocity + epsilon)` like the TF1 optimizer of
the Inception papers, so epsilon 1.0 means the same here. The paper states no momentum,
so none is used (TF-slim's Inception recipe adds momentum 0.9).

`keras-rbf train inception_resnet_v2_rbf_chest --data-dir DIR --epochs E` trains the
entry on the paper's balanced ChestX-ray14 split on the shared engine
(`keras_rbf.recipes.engine`: seeded, deterministic, resumable, `--strategy`) and writes
the run into `--out-dir` (default `runs/<name>`): weights, `card.json`, `results.json`;
`keras-rbf zoo publish RUN_DIR` copies it into a checkout's zoo. `--gda-stddev S` trains with
Gaussian data augmentation (the GDA column of Table 3).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_rbf import zoo
from keras_rbf.cli_args import positive_int
from keras_rbf.datasets import chestxray14

# One evaluation module for the package; re-exported here under the names callers use.
from keras_rbf.evaluate import accuracy, logits, rbf_layers, rbf_live_fractions
from keras_rbf.recipes import engine

__all__ = [
    "main",
    "ChestRecipe",
    "prepare",
    "train_model",
    "paper_optimizer",
    "build_entry",
    "adapt_rbf_centers",
    "rbf_live_fractions",
    "logits",
    "accuracy",
]

FAMILY = "chest"


def paper_optimizer(
    steps_per_epoch: int,
    learning_rate: float = 0.045,
    rho: float = 0.9,
    epsilon: float = 1.0,
    decay_rate: float = 0.94,
    decay_epochs: float = 2.0,
) -> keras.optimizers.Optimizer:
    """RMSprop of paper 5.1 with the learning rate decayed by `decay_rate` every `decay_epochs`.

    Args:
        steps_per_epoch: optimizer steps in one epoch (sets the decay period in steps).
        learning_rate, rho, epsilon, decay_rate, decay_epochs: the recipe's constants.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate,
        decay_steps=max(1, int(round(decay_epochs * steps_per_epoch))),
        decay_rate=decay_rate,
        staircase=True,
    )
    return keras.optimizers.RMSprop(schedule, rho=rho, epsilon=epsilon)


def build_entry(
    name: str, image_size: int | None = None, blocks=None, rbf_placement=None
) -> keras.Model:
    """The architecture of CHEST zoo entry `name`, optionally at another input size/depth.

    Args:
        name: CHEST zoo entry.
        image_size: input side instead of the card's.
        blocks: Inception-ResNet A/B/C repeats instead of the card's.
        rbf_placement: RBF block positions instead of the card's (RBF entries only).
    """
    info = zoo.card(name)
    if info.get("family") != FAMILY:
        raise ValueError(f"{name!r} is not a CHEST zoo entry (family {info.get('family')!r})")
    overrides = {}
    if image_size is not None:
        channels = info["builder_kwargs"].get("input_shape", (299, 299, 1))[-1]
        overrides["input_shape"] = (image_size, image_size, channels)
    if blocks is not None:
        overrides["stage_blocks"] = tuple(blocks)
    if rbf_placement is not None and info["builder_kwargs"].get("rbf"):
        overrides["rbf_placement"] = tuple(rbf_placement)
    return zoo.build(name, **overrides)


def _rbf_inputs(model: keras.Model, x: np.ndarray, batch_size: int = 8) -> list[np.ndarray]:
    layers = rbf_layers(model)
    probe = keras.Model(model.input, [layer.input for layer in layers])
    parts = [probe(x[i : i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    parts = [p if isinstance(p, (list, tuple)) else [p] for p in parts]
    return [
        np.concatenate([keras.ops.convert_to_numpy(p[j]) for p in parts])
        for j in range(len(layers))
    ]


def adapt_rbf_centers(model: keras.Model, x: np.ndarray, seed: int = 0) -> dict:
    """k-means centers and median widths for every RBF layer from its inputs on images `x`.

    Layers are adapted in topological order, each after the ones upstream (its inputs
    depend on them). A layer with fewer input vectors than centers (the pooled "head"
    block sees one vector per image) keeps its default initialization.

    Returns:
        `{layer name: "adapted" | "default init (N vectors < P centers)"}`.
    """
    status = {}
    for layer in rbf_layers(model):
        probe = keras.Model(model.input, layer.input)
        feats = np.concatenate(
            [
                keras.ops.convert_to_numpy(probe(x[i : i + 8], training=False))
                for i in range(0, len(x), 8)
            ]
        )
        n_vectors = int(np.prod(feats.shape[:-1]))
        if n_vectors < layer.centers.shape[0]:
            status[layer.name] = (
                f"default init ({n_vectors} vectors < {layer.centers.shape[0]} centers)"
            )
            continue
        layer.adapt(feats, seed=seed)
        status[layer.name] = "adapted"
    return status


def prepare(
    model: keras.Model,
    splits: dict,
    image_size: int,
    batch_size: int = 4,
    steps_per_epoch: int | None = None,
    gda_stddev: float | None = None,
    seed: int = 0,
    adapt_centers: bool = True,
    run_eagerly: bool = False,
) -> tuple[Any, dict, dict]:
    """Seeds, places RBF centers, builds the input pipelines and compiles `model`.

    Args:
        model: a CHEST model (logits out, inputs in [0, 1]).
        splits: `chestxray14.load(...)` output (uses "train" and, if present, "validation").
        image_size: side the images are resized to (the model's input size).
        batch_size: 4 in the paper.
        steps_per_epoch: cap on steps per epoch (default: the whole training split).
        gda_stddev: if set, Gaussian data augmentation with this noise level: each
            step sees the batch and a noisy copy of it (2 x batch_size images).
        seed: seeds weights, shuffling, noise and k-means.
        adapt_centers: k-means RBF centers on up to 256 training images first.
        run_eagerly: train without graph compilation (tests; tracing this network
            takes minutes on CPU).

    Returns:
        `(dataset, fit_kwargs, info)`: what `engine.fit` takes, and
        `{"steps_per_epoch", "rbf_centers"}`.
    """
    from keras_rbf.defenses.augmentation import GaussianAugment

    keras.utils.set_random_seed(seed)
    train_split = splits["train"]
    channels = model.input_shape[-1]
    full_steps = int(np.ceil(len(train_split) / batch_size))
    steps = min(full_steps, steps_per_epoch) if steps_per_epoch else full_steps
    adapted = {}
    if adapt_centers and rbf_layers(model):
        probe_split = chestxray14.ChestSplit(train_split.paths[:256], train_split.labels[:256])
        adapted = adapt_rbf_centers(model, probe_split.images(image_size, channels), seed=seed)
    augment = GaussianAugment(gda_stddev, seed=seed) if gda_stddev else None
    ds = train_split.dataset(
        image_size, batch_size, channels, shuffle=True, seed=seed, augment=augment, repeat=True
    )
    val = None
    if "validation" in splits and len(splits["validation"]):
        val = splits["validation"].dataset(image_size, batch_size, channels)
    model.compile(
        optimizer=paper_optimizer(steps),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        run_eagerly=run_eagerly,
    )
    fit_kwargs = {"steps_per_epoch": steps, "validation_data": val}
    return ds, fit_kwargs, {"steps_per_epoch": steps, "rbf_centers": adapted}


def train_model(
    model: keras.Model,
    splits: dict,
    epochs: int,
    image_size: int,
    run_dir: Path,
    batch_size: int = 4,
    steps_per_epoch: int | None = None,
    gda_stddev: float | None = None,
    seed: int = 0,
    adapt_centers: bool = True,
    run_eagerly: bool = False,
    verbose: int | str = "auto",
) -> dict:
    """Trains `model` in place with the paper's recipe, in this process (the chest report
    trains its models this way; `keras-rbf train` runs `ChestRecipe` on the engine).

    Args: see `prepare`; `epochs`, `run_dir` (backups and history) and `verbose` too.

    Returns:
        The history, with `steps_per_epoch`, `batch_size`, `gda_stddev`, `rbf_centers`.
    """
    ds, fit_kwargs, info = prepare(
        model, splits, image_size, batch_size, steps_per_epoch, gda_stddev, seed,
        adapt_centers, run_eagerly,
    )  # fmt: skip
    history = engine.fit(
        model, run_dir, ds, chief=True, epochs=epochs, verbose=verbose, **fit_kwargs
    )
    return {"batch_size": batch_size, "gda_stddev": gda_stddev, **info, **history}


@dataclass
class ChestRecipe(engine.Recipe):
    """The CHEST entries' recipe on the shared engine (`engine.Recipe` fields); the
    remaining fields are `prepare`'s and `build_entry`'s arguments."""

    data_dir: str = ""
    image_size: int = 299
    steps_per_epoch: int | None = None
    fraction: float = 1.0
    gda_stddev: float | None = None
    blocks: tuple | None = None
    rbf_placement: tuple | None = None
    run_eagerly: bool = False
    family = FAMILY

    def __post_init__(self):
        if self.out_dir is None:  # the GDA model of Table 3 gets a folder of its own
            self.out_dir = Path("runs") / (f"{self.name}_gda" if self.gda_stddev else self.name)

    def data(self, info: dict) -> dict:
        return chestxray14.load(self.data_dir, seed=self.seed, fraction=self.fraction)

    def build(self, info: dict, splits: dict) -> engine.Built:
        model = build_entry(self.name, self.image_size, self.blocks, self.rbf_placement)
        self._fit = prepare(
            model, splits, self.image_size, self.batch_size, self.steps_per_epoch,
            self.gda_stddev, self.seed, run_eagerly=self.run_eagerly,
        )  # fmt: skip
        return engine.Built(model, model)

    def fit_data(self, splits: dict) -> tuple:
        return self._fit[0], self._fit[1]

    def measure(self, model: keras.Model, splits: dict) -> dict:
        test = splits["test"]
        x_test = test.images(self.image_size, model.input_shape[-1])
        return {
            "data_dir": str(self.data_dir),
            "clean_test_accuracy": accuracy(model, x_test, test.labels),
            "n_test": int(len(test)),
            "rbf_live_fraction_test": rbf_live_fractions(model, x_test),
            "rbf_centers": self._fit[2]["rbf_centers"],
        }

    def settings(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "fraction": self.fraction,
            "steps_per_epoch": self._fit[2]["steps_per_epoch"],
            "gda_stddev": self.gda_stddev,
        }

    def update_card(self, info: dict) -> None:
        kwargs = info["builder_kwargs"]
        channels = kwargs.get("input_shape", (299, 299, 1))[-1]
        kwargs["input_shape"] = [self.image_size, self.image_size, channels]
        if self.blocks is not None:
            kwargs["stage_blocks"] = list(self.blocks)
        if self.rbf_placement is not None and kwargs.get("rbf"):
            kwargs["rbf_placement"] = list(self.rbf_placement)


def main(name: str, argv: list[str] | None = None) -> int:
    """`keras-rbf train NAME --data-dir DIR [--epochs E] ...` for CHEST entries."""
    parser = engine.train_parser(name, batch_size=4)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get(chestxray14.ENV_VAR),
        help=f"ChestX-ray14 folder (default ${chestxray14.ENV_VAR})",
    )
    parser.add_argument("--image-size", type=positive_int, default=299)
    parser.add_argument("--steps-per-epoch", type=positive_int, default=None)
    parser.add_argument(
        "--fraction", type=float, default=1.0, help="fraction of the paper's split counts"
    )
    parser.add_argument(
        "--gda-stddev",
        type=float,
        default=None,
        help="train with Gaussian data augmentation of this stddev",
    )
    parser.add_argument(
        "--blocks",
        type=positive_int,
        nargs=3,
        default=None,
        help="Inception-ResNet A/B/C repeats (default 10 20 10)",
    )
    parser.add_argument(
        "--rbf-placement",
        nargs="+",
        default=None,
        help="RBF block positions (default the card's: all five)",
    )
    parser.add_argument("--run-eagerly", action="store_true")
    args, epochs, command = engine.parse_train_args(parser, name, argv)
    if not args.data_dir:
        parser.error(f"--data-dir is required (or set ${chestxray14.ENV_VAR})")
    recipe = ChestRecipe(
        **engine.common_fields(name, args, epochs, command),
        data_dir=args.data_dir,
        image_size=args.image_size,
        steps_per_epoch=args.steps_per_epoch,
        fraction=args.fraction,
        gda_stddev=args.gda_stddev,
        blocks=args.blocks,
        rbf_placement=args.rbf_placement,
        run_eagerly=args.run_eagerly,
    )
    info = engine.run(recipe)
    print(
        f"wrote {info['name']} to {args.out_dir or 'runs/'}; publish it with "
        f"`keras-rbf zoo publish RUN_DIR`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
