"""Chooses a CNN entry's epochs on the validation curve and writes the runs at that epoch.

    python -m training.select_epochs cnn_rbf_mnist runs/full/cnn_rbf_mnist-seed{0,1,2} \
        [--out-dir runs/selected]

Each RUN is a `keras-rbf train NAME --seed K --epochs EMAX --keep-epochs` run, finished
or stopped: its history holds the validation accuracy after every epoch and `RUN/epochs/`
the weights after every epoch. The epochs E are the argmax of the validation curve
averaged over the runs (the seeds), among the epochs all of them reached; the test split
is not read to choose. For each run, the weights after
epoch E are measured like a finished run (`CNNRecipe.measure`: validation and test
accuracy, live fractions) and written as the E-epoch run into `--out-dir/NAME-seedK`, with
the history cut at E and the command `keras-rbf train NAME --seed K --epochs E`: with op
determinism and Adam at a constant rate, the first E epochs of the longer run are that
run (tests/recipes/test_engine.py checks it). Publish them with `keras-rbf zoo publish`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from keras_rbf import zoo
from keras_rbf.evaluate import rbf_layers
from keras_rbf.recipes import engine
from keras_rbf.recipes.cnn import CNNRecipe


def read_run(run_dir: Path) -> tuple[int, dict]:
    """`(seed, history)` of a `--keep-epochs` run folder, finished or not.

    A finished run keeps its history in `results.json`; one still running or stopped
    keeps it in `history.jsonl`, and `epochs/` holds the weights of every logged epoch.
    """
    results = run_dir / "results.json"
    if results.is_file():
        (seed, block), *_ = json.loads(results.read_text())["training"].items()
        return int(seed), block["history"]
    log = engine.HistoryLog(run_dir / "history.jsonl")
    seed = int(run_dir.name.rsplit("-seed", 1)[1])  # runs/.../NAME-seedK, as the chain names them
    return seed, log.history()


def choose_epochs(histories: list[dict], max_epochs: int | None = None) -> tuple[int, np.ndarray]:
    """`(E, mean validation curve)`: E (from 1) maximizes the validation curve averaged
    over the runs, among the epochs every run reached (and at most `max_epochs`)."""
    reached = min(len(h["val_accuracy"]) for h in histories)
    reached = min(reached, max_epochs or reached)
    mean = np.array([h["val_accuracy"][:reached] for h in histories]).mean(axis=0)
    return int(np.argmax(mean)) + 1, mean


def cut_history(history: dict, epochs: int) -> dict:
    """The history of the first `epochs` epochs (lists cut, nested per-layer lists too)."""
    out = {}
    for key, value in history.items():
        if isinstance(value, list):
            out[key] = value[:epochs]
        elif isinstance(value, dict):
            out[key] = {k: v[:epochs] for k, v in value.items()}
        else:
            out[key] = value
    out["epochs"] = epochs
    return out


def write_selected(name: str, run_dir: Path, epochs: int, mean: np.ndarray, out_dir: Path) -> dict:
    """Measures run `run_dir`'s weights after `epochs` and writes them as the E-epoch run
    of zoo entry `name` at the card's recipe (learning rate, batch 128)."""
    seed, history = read_run(run_dir)
    card = zoo.card(name)
    lr = card["training"].get("learning_rate", 1e-3)
    recipe = CNNRecipe(name, epochs, 128, seed, learning_rate=lr)
    splits = recipe.data(card)
    model = zoo.build(name)
    model.load_weights(str(run_dir / "epochs" / f"epoch{epochs:03d}.weights.h5"))
    recipe.adapted = bool(rbf_layers(model)) and recipe.adapt_centers
    command = f"keras-rbf train {name} --seed {seed} --epochs {epochs}"
    card["training"].update({**recipe.settings(), "epochs": epochs, "command": command})
    card["training"]["selected_on_validation"] = {
        "epochs_run": len(mean),
        "mean_val_accuracy_per_epoch": [round(float(v), 4) for v in mean],
        "val_accuracy_at_chosen": round(float(mean[epochs - 1]), 4),
        "by": "python -m training.select_epochs " + " ".join(sys.argv[1:]),
    }
    measured = {"seed": seed, **recipe.measure(model, splits)}
    target = out_dir / f"{name}-seed{seed}"
    return engine.finish(target, card, seed, model, command, cut_history(history, epochs), measured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("name", help="the zoo entry the runs trained")
    parser.add_argument("runs", nargs="+", type=Path, help="finished --keep-epochs runs")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/selected"))
    parser.add_argument("--max-epochs", type=int, default=None, help="choose among the first N")
    args = parser.parse_args(argv)
    epochs, mean = choose_epochs([read_run(r)[1] for r in args.runs], args.max_epochs)
    print(f"{args.name}: mean validation accuracy per epoch {np.round(mean, 4).tolist()}")
    print(f"chosen: {epochs} epochs (validation {mean[epochs - 1]:.4f})")
    for run in args.runs:
        card = write_selected(args.name, run, epochs, mean, args.out_dir)
        print(f"wrote {args.out_dir}/{card['name']}-seed{read_run(run)[0]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
