"""The training engine every recipe (cnn, segmentation, chest) runs on.

A recipe keeps only its model, optimizer, loss and data; this module does the rest the
same way for all of them: seeding and op determinism, the `tf.distribute` strategy,
`BackupAndRestore` resume with the whole history kept across a resume, chief-only
writes into the run folder (never into the package), and the run's results stamped
with the command that produced them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import keras

from keras_rbf.publish import new_run_dir, stamp, write_run
from keras_rbf.recipes import machine

__all__ = ["start", "HistoryLog", "fit", "finish", "train_parser", "parse_train_args"]


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
        initial = int(getattr(self.model, "_initial_epoch", None) or 0)
        kept = [r for r in self.records() if r["epoch"] < initial]
        if initial:
            print(
                f"resuming from epoch {initial + 1} (backup in {self.path.parent}); "
                f"{len(kept)} earlier epochs kept in the history",
                flush=True,
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

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
    add_strategy_argument(parser)
    return parser


def parse_train_args(parser, name: str, argv: list[str] | None):
    """Parses `argv`; returns `(args, epochs, command)` (epochs default to the card's)."""
    import shlex

    from keras_rbf import zoo

    args = parser.parse_args(argv)
    epochs = args.epochs or zoo.card(name)["training"]["epochs"]
    command = "keras-rbf train " + " ".join(shlex.quote(a) for a in [name, *(argv or [])])
    return args, epochs, command
