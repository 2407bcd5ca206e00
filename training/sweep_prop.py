"""PROP-parity sweep: which fair training settings bring the RBF CNN to its ORIG's accuracy?

    python -m training.sweep_prop mnist [--configs base,epochs30,...] [--seeds 0] \
        [--out training/sweeps/sweep_prop_mnist.json]
    python -m training.sweep_prop fashion_mnist --train-subset 10000

Every configuration stays inside Eq. 2-5's family of functions and changes only what
issue 11 calls fair: epochs, the learning rate, epsilon, the initial widths (beta),
the k-means initialization of the centers. None silences the branch. Each run is
seeded with op determinism, trained with Adam at batch 128 like the recipe
(`keras_rbf.recipes.cnn`), and measured on the whole test split: clean accuracy with
its 95 % interval, live fraction of every RBF layer, and the accuracy lost when each
RBF branch's output is replaced by its mean (`evaluate.rbf_branch_ablation`). The
table is printed and written as JSON; configurations that win move into the cards. The
JSON's `seconds` are wall time of each run, not timings: sweeps share the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_rbf import datasets, zoo
from keras_rbf.evaluate import rbf_branch_ablation, rbf_layers, rbf_live_fractions, wilson_interval
from keras_rbf.recipes.cnn import adapt_rbf_centers

# name -> (entry, changes). Keys: epochs, learning_rate, adapt_centers, rbf_kwargs
# (merged into the card's), rbf_normalize. The ORIG rows are the yardstick.
CONFIGS: dict[str, tuple[str, dict]] = {
    "orig": ("ORIG", {}),
    "orig_epochs30": ("ORIG", {"epochs": 30}),
    "base": ("PROP", {}),
    "epochs30": ("PROP", {"epochs": 30}),
    "epochs30_eps0.9": ("PROP", {"epochs": 30, "rbf_kwargs": {"epsilon": 0.9}}),
    "epochs30_beta0.1": (
        "PROP",
        {
            "epochs": 30,
            "rbf_kwargs": {
                "beta_initializer": {"class_name": "Constant", "config": {"value": 0.1}}
            },
        },
    ),
    "epochs30_no_kmeans": ("PROP", {"epochs": 30, "adapt_centers": False}),
    "epochs30_lr2e-3": ("PROP", {"epochs": 30, "learning_rate": 2e-3}),
    "lr2e-3": ("PROP", {"learning_rate": 2e-3}),
    "orig_lr2e-3": ("ORIG", {"learning_rate": 2e-3}),
    "epochs30_lr5e-4": ("PROP", {"epochs": 30, "learning_rate": 5e-4}),
}
ENTRIES = {
    "mnist": {"ORIG": "cnn_mnist", "PROP": "cnn_rbf_mnist"},
    "fashion_mnist": {"ORIG": "cnn_fashion_mnist", "PROP": "cnn_rbf_fashion_mnist"},
}


def run_config(dataset: str, config: str, seed: int, splits: dict) -> dict:
    """Trains one configuration with one seed; returns its measurements."""
    import tensorflow as tf

    role, changes = CONFIGS[config]
    card = zoo.card(ENTRIES[dataset][role])
    kwargs = dict(card["builder_kwargs"])
    if "rbf_kwargs" in changes:
        kwargs["rbf_kwargs"] = {**kwargs.get("rbf_kwargs", {}), **changes["rbf_kwargs"]}
    if "rbf_normalize" in changes:
        kwargs["rbf_normalize"] = changes["rbf_normalize"]
    epochs = changes.get("epochs", 15)
    lr = changes.get("learning_rate", 1e-3)
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = zoo.build(ENTRIES[dataset][role]) if not changes else _build(card, kwargs)
    if changes.get("adapt_centers", True) and rbf_layers(model):
        adapt_rbf_centers(model, x_train[:1024], seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    hist = model.fit(x_train, y_train, batch_size=128, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    ablation = rbf_branch_ablation(model, x_test, y_test)
    clean = ablation.pop("clean")
    k = int(round(clean * len(y_test)))
    return {
        "config": config,
        "role": role,
        "changes": changes,
        "seed": seed,
        "epochs": epochs,
        "clean_test_accuracy": clean,
        "n_test": int(len(y_test)),
        "ci95": list(wilson_interval(k, len(y_test))),
        "train_accuracy_last_epoch": float(hist.history["accuracy"][-1]),
        "rbf_live_fraction_test": rbf_live_fractions(model, x_test[:1000]),
        "branch_ablation_drop": {name: v["drop"] for name, v in ablation.items()},
        "seconds": round(seconds, 1),
    }


def _build(card: dict, kwargs: dict) -> keras.Model:
    from keras_rbf.models import build_cnn

    kwargs = dict(kwargs)
    rbf_kwargs = dict(kwargs.pop("rbf_kwargs", {}))
    if isinstance(rbf_kwargs.get("beta_initializer"), dict):
        rbf_kwargs["beta_initializer"] = keras.initializers.deserialize(
            rbf_kwargs["beta_initializer"]
        )
    return build_cnn(**kwargs, rbf_kwargs=rbf_kwargs)


def load_splits(dataset: str, train_subset: int | None) -> dict:
    """The entry's data; `train_subset` keeps a fixed seeded subset of the training images."""
    data = zoo.card(ENTRIES[dataset]["ORIG"])["dataset"]
    splits = datasets.load(data["name"], **data.get("kwargs", {}))
    if train_subset:
        x, y = splits["train"]
        keep = np.random.RandomState(0).permutation(len(x))[:train_subset]
        splits = {**splits, "train": (x[keep], y[keep])}
    return splits


def table(rows: list[dict]) -> str:
    """Markdown table: one line per configuration, mean over its seeds."""
    lines = [
        "| config | role | seeds | epochs | clean (mean) | per seed | min live | "
        "branch-mean drop (pp, per block) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for config in dict.fromkeys(r["config"] for r in rows):
        rs = [r for r in rows if r["config"] == config]
        accs = [r["clean_test_accuracy"] for r in rs]
        live = [v for r in rs for v in r["rbf_live_fraction_test"].values()]
        drops = ["/".join(f"{100 * d:.1f}" for d in r["branch_ablation_drop"].values()) for r in rs]
        lines.append(
            f"| {config} | {rs[0]['role']} | {len(rs)} | {rs[0]['epochs']} | "
            f"{np.mean(accs):.4f} | {' '.join(f'{a:.3f}' for a in accs)} | "
            f"{min(live) if live else '-'} | {' ; '.join(drops) or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(ENTRIES))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {', '.join(CONFIGS)}")
    out = Path(args.out or f"training/sweeps/sweep_prop_{args.dataset}.json")
    rows = json.loads(out.read_text())["rows"] if out.is_file() else []
    splits = load_splits(args.dataset, args.train_subset)
    for config in configs:
        for seed in (int(s) for s in args.seeds.split(",")):
            if any(r["config"] == config and r["seed"] == seed for r in rows):
                continue  # already measured: the sweep resumes
            rows.append(run_config(args.dataset, config, seed, splits))
            print(json.dumps(rows[-1]), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(
                json.dumps(
                    {
                        "dataset": args.dataset,
                        "train_images": int(len(splits["train"][0])),
                        "command": "python -m training.sweep_prop " + " ".join(argv or []),
                        "rows": rows,
                    },
                    indent=1,
                )
            )
    print(table(rows))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
