"""The training engine every recipe (cnn, segmentation, chest) runs on.

A recipe is a `Recipe` subclass that says only what differs between families: its data
(`data`), its model, compiled (`build`), what `model.fit` is given (`fit_data`), what it
measures on the trained model (`measure`) and the settings it records (`settings`).
`run(recipe)` does the rest the same way for all of them: the card and family check,
seeding and op determinism, the `tf.distribute` strategy, `BackupAndRestore` resume with
the whole history kept across a resume, chief-only writes into the run folder (never
into the package; the chief decided in one place), and the run's results stamped with
the command that produced them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from keras_rbf.publish import new_run_dir, stamp, write_run
from keras_rbf.recipes import machine

__all__ = [
    "Built",
    "EpochWeights",
    "Recipe",
    "run",
    "start",
    "HistoryLog",
    "fit",
    "finish",
    "train_parser",
    "common_fields",
    "parse_train_args",
]


def start(name: str, out_dir: str | None, seed: int, strategy: str = "default"):
    """Seeds everything, turns on op determinism and opens the distribution strategy.

    Returns:
        `(run_dir, strategy)`; the run folder is checked (never an installed package,
        never a finished run) before any training starts.
    """
    import tensorflow as tf

    from keras_rbf.distribute import get_strategy

    run_dir = new_run_dir(name, out_dir, seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # Before any other TensorFlow op: MultiWorkerMirroredStrategy can only start first.
    return run_dir, get_strategy(strategy)


class HistoryLog(keras.callbacks.Callback):
    """Appends each epoch's logs and seconds to a JSON-lines file.

    Placed after `BackupAndRestore`, it sees the epoch a resumed run restarts from,
    drops lines of later epochs (work lost with the interruption), says that it is
    resuming, and so keeps the complete history across any number of resumes.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)

    def on_train_begin(self, logs=None):
        self._first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        # The first epoch this fit runs is the one a resumed run restarts from (Keras
        # passes it here; no private attribute needed): later lines were lost work.
        if self._first_epoch is None:
            self._first_epoch = epoch
            self._keep_before(epoch)
        self._start = time.perf_counter()

    def _keep_before(self, initial: int) -> None:
        kept = [r for r in self.records() if r["epoch"] < initial]
        if initial:
            print(
                f"resuming from epoch {initial + 1} (backup in {self.path.parent}); "
                f"{len(kept)} earlier epochs kept in the history",
                flush=True,
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def on_epoch_end(self, epoch, logs=None):
        record = {
            "epoch": epoch,
            "seconds": round(time.perf_counter() - self._start, 3),
            **{k: float(v) for k, v in (logs or {}).items()},
        }
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def history(self) -> dict[str, Any]:
        """`{"epochs", "seconds_per_epoch", metric: [per epoch], ...}` of every epoch.

        Per-layer RBF entries (`<layer>_live`, `<layer>_psi_change`) are grouped under
        `live_fraction` and `psi_change`.
        """
        records = self.records()
        out: dict[str, Any] = {
            "epochs": len(records),
            "seconds_per_epoch": [r["seconds"] for r in records],
        }
        for key in sorted({k for r in records for k in r} - {"epoch", "seconds"}):
            values = [r.get(key) for r in records]
            for suffix, group in (("_live", "live_fraction"), ("_psi_change", "psi_change")):
                if key.endswith(suffix):
                    out.setdefault(group, {})[key[: -len(suffix)]] = values
                    break
            else:
                out[key] = values
        return out


class EpochWeights(keras.callbacks.Callback):
    """Saves `model`'s weights after every epoch as `folder/epoch<E>.weights.h5` (E from 1).

    With op determinism and no schedule that depends on the number of epochs, the first E
    epochs of a longer run are an E-epoch run, so these files let a recipe's epochs be
    chosen on the validation curve afterwards (`training/select_epochs.py`) without
    training again. `model` is the one a run publishes (not an `AdversarialTrainer`).
    """

    def __init__(self, model: keras.Model, folder: Path):
        super().__init__()
        self.watched, self.folder = model, Path(folder)

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.watched.save_weights(str(self.folder / f"epoch{epoch + 1:03d}.weights.h5"))


def fit(
    model: keras.Model,
    run_dir: Path,
    data,
    chief: bool,
    worker: int = 0,
    callbacks: list | None = None,
    **fit_kwargs,
) -> dict[str, Any]:
    """`model.fit` with `BackupAndRestore` in `run_dir/backup` and the whole history.

    Args:
        model: a compiled model.
        run_dir: the run folder (from `start`).
        data: `(x, y)` arrays or a `tf.data.Dataset`.
        chief: whether this worker writes (non-chief workers back up beside the chief).
        worker: the worker's index, naming a non-chief's backup folder.
        callbacks: more callbacks, run before the history is logged.
        **fit_kwargs: passed to `model.fit` (epochs, batch_size, validation_data...).

    Returns:
        The complete history (see `HistoryLog.history`).
    """
    backup = run_dir / "backup" if chief else run_dir / "backup" / f"worker{worker}"
    log = HistoryLog(run_dir / "history.jsonl" if chief else backup / "history.jsonl")
    x, y = data if isinstance(data, tuple) else (data, None)
    model.fit(
        x,
        y,
        callbacks=[keras.callbacks.BackupAndRestore(str(backup)), *(callbacks or []), log],
        **fit_kwargs,
    )
    return log.history()


def finish(
    run_dir: Path,
    info: dict,
    seed: int,
    model: keras.Model,
    command: str,
    history: dict,
    measured: dict,
) -> dict:
    """Writes the chief's run: weights, card and results with provenance.

    Args:
        run_dir: the run folder.
        info: the entry's card with this run's `training` settings merged in.
        seed: training seed.
        model: the trained model.
        command: the command line that produced the run.
        history: from `fit`.
        measured: test metrics of the trained model (accuracy, live fractions...).

    Returns:
        The run's card.
    """
    seconds = sorted(history.get("seconds_per_epoch", []))
    block = {
        **stamp(command),
        **measured,
        "machine": machine(),
        "seconds_per_epoch_median": seconds[len(seconds) // 2] if seconds else None,
        "history": history,
    }
    card = write_run(run_dir, info, seed, model, block)
    (run_dir / "history.jsonl").unlink(missing_ok=True)  # now inside results.json
    return card


@dataclass
class Built:
    """What a recipe's `build` returns.

    Attributes:
        fitted: the compiled model that `model.fit` runs (an `AdversarialTrainer`
            wrapping `model`, say).
        model: the model whose weights the run publishes and `measure` scores.
        callbacks: more callbacks for the fit (before the history log).
    """

    fitted: keras.Model
    model: keras.Model
    callbacks: list = field(default_factory=list)


@dataclass
class Recipe:
    """One training run of a zoo entry; a family subclasses it and fills in the hooks.

    Attributes:
        name: the zoo entry; its card's `family` must be the subclass's `family`.
        epochs: passes over the training split.
        batch_size: global batch size.
        seed: seeds weights, shuffling and everything the hooks draw; op determinism on.
        out_dir: the run folder (default `runs/<name>`, `runs/<name>-seed<k>`).
        command: the command line recorded with the results.
        strategy: "default", "mirrored" or "multiworker" (see `keras_rbf.distribute`).
        verbose: Keras progress setting.
        keep_epochs: also save the weights after every epoch (`EpochWeights`).
    """

    name: str
    epochs: int
    batch_size: int
    seed: int = 0
    out_dir: str | Path | None = None
    command: str | None = None
    strategy: str = "default"
    verbose: int | str = "auto"
    keep_epochs: bool = False

    family = ""  # a class attribute of each subclass, not a field

    def data(self, info: dict) -> dict:
        """`{split: data}` of the card `info`'s data set."""
        raise NotImplementedError

    def build(self, info: dict, splits: dict) -> Built:
        """The compiled model (called inside the strategy's scope)."""
        raise NotImplementedError

    def fit_data(self, splits: dict) -> tuple[Any, dict]:
        """`(data, fit_kwargs)` for `fit`: `(x, y)` or a dataset, and e.g. validation_data."""
        raise NotImplementedError

    def measure(self, model: keras.Model, splits: dict) -> dict:
        """Measurements of the trained model recorded in its results (test metrics...)."""
        raise NotImplementedError

    def settings(self) -> dict:
        """The recipe's settings recorded in the card's `training` block."""
        return {"batch_size": self.batch_size}

    def update_card(self, info: dict) -> None:
        """Changes to the card's definition the run made (e.g. an input size); default none."""


def run(recipe: Recipe) -> dict:
    """Trains `recipe.name` with the recipe's hooks and writes the run (chief only).

    Returns:
        The run's card (a non-chief worker returns the entry's card unchanged).

    Raises:
        UserError: the entry is not of the recipe's family.
    """
    from keras_rbf import zoo
    from keras_rbf.distribute import is_chief
    from keras_rbf.errors import UserError

    info = zoo.card(recipe.name)
    if info.get("family") != recipe.family:
        raise UserError(
            f"{recipe.name!r} is not a {recipe.family} zoo entry (family {info.get('family')!r})"
        )
    run_dir, strategy = start(recipe.name, recipe.out_dir, recipe.seed, recipe.strategy)
    splits = recipe.data(info)
    with strategy.scope():
        built = recipe.build(info, splits)
    chief = is_chief(strategy)
    data, fit_kwargs = recipe.fit_data(splits)
    callbacks = list(built.callbacks)
    if recipe.keep_epochs and chief:
        callbacks.append(EpochWeights(built.model, run_dir / "epochs"))
    history = fit(
        built.fitted,
        run_dir,
        data,
        chief,
        worker=0 if chief else strategy.cluster_resolver.task_id,
        callbacks=callbacks,
        epochs=recipe.epochs,
        verbose=recipe.verbose,
        **fit_kwargs,
    )
    if not chief:
        return info  # only the chief writes
    recipe.update_card(info)
    command = recipe.command or f"keras-rbf train {recipe.name} --epochs {recipe.epochs}"
    info["training"].update({"command": command, "epochs": recipe.epochs, **recipe.settings()})
    measured = {"seed": recipe.seed, **recipe.measure(built.model, splits)}
    return finish(run_dir, info, recipe.seed, built.model, command, history, measured)


def train_parser(name: str, batch_size: int, **defaults: float):
    """The `keras-rbf train NAME` parser with the flags every recipe shares.

    Args:
        name: zoo entry (names the program in messages).
        batch_size: the recipe's default global batch size.
        **defaults: more float flags with their defaults, e.g. `learning_rate=1e-3`
            becomes `--learning-rate`.

    Returns:
        A one-line-error `ArgumentParser` with `--epochs`, `--batch-size`, `--seed`,
        `--out-dir`, `--strategy` and the given flags; a recipe adds its own.
    """
    from keras_rbf.cli_args import ArgumentParser, positive_float, positive_int
    from keras_rbf.distribute import add_strategy_argument

    parser = ArgumentParser(prog=f"keras-rbf train {name}")
    parser.add_argument(
        "--epochs", type=positive_int, default=None, help="default: the card's training.epochs"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=batch_size,
        help=f"global training batch (default {batch_size}), split over the replicas",
    )
    for flag, value in defaults.items():
        parser.add_argument(f"--{flag.replace('_', '-')}", type=positive_float, default=value)
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the weights: initialization, data order, k-means (default 0); "
        "published as the entry's seed K (`zoo.load(NAME, seed=K)`)",
    )
    parser.add_argument(
        "--out-dir",
        default=None,
        help="run folder (default runs/NAME, or runs/NAME-seedK); an "
        "interrupted run resumes when the same command is run again",
    )
    parser.add_argument(
        "--keep-epochs",
        action="store_true",
        help="also save the weights after every epoch in RUN/epochs/, so that the epochs "
        "can be chosen on the validation curve afterwards (training/select_epochs.py)",
    )
    add_strategy_argument(parser)
    return parser


def common_fields(name: str, args, epochs: int, command: str) -> dict:
    """The `Recipe` fields every `keras-rbf train` parser sets (see `train_parser`)."""
    return {
        "name": name,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "out_dir": args.out_dir,
        "command": command,
        "strategy": args.strategy,
        "keep_epochs": args.keep_epochs,
    }


def parse_train_args(parser, name: str, argv: list[str] | None):
    """Parses `argv`; returns `(args, epochs, command)` (epochs default to the card's)."""
    import shlex

    from keras_rbf import zoo

    args = parser.parse_args(argv)
    epochs = args.epochs or zoo.card(name)["training"]["epochs"]
    command = "keras-rbf train " + " ".join(shlex.quote(a) for a in [name, *(argv or [])])
    return args, epochs, command
