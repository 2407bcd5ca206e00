"""PROP-parity sweep: which fair training settings bring the RBF CNN to its ORIG's accuracy?

    python -m training.sweep_prop mnist [--configs orig,prop_lr2e-3] [--seeds 0]

Each configuration trains through the CNN recipe itself (`keras_rbf.recipes.cnn.
CNNRecipe` on the shared engine: seeded, deterministic, resumable) for its maximum
number of epochs into `runs/sweep/<dataset>/<config>-seed<k>/`, logging validation
accuracy after every epoch. The choice is made on the validation split only (the last
5,000 training images): a configuration's epochs are the argmax of its validation
curve, averaged over the seeds run. The test split is never read here; only the final
runs' measurements touch it. Every configuration stays inside Eq. 2-5's family of
functions and changes only what is fair: epochs, the learning rate, the k-means
initialization of the centers; none silences the branch.

The table is printed and written as JSON (`training/sweeps/sweep_prop_<dataset>.json`);
the winning epochs and rate move into the cards. Sweeps share the machine, so no
timings are kept.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from keras_rbf.recipes import engine
from keras_rbf.recipes.cnn import CNNRecipe
from training.select_epochs import choose_epochs

# name -> (role, changes, max epochs). Changes: learning_rate, adapt_centers (CNNRecipe
# fields). Kept small on full data: every row costs CPU-hours on 2 cores.
CONFIGS: dict[str, tuple[str, dict, int]] = {
    "orig": ("ORIG", {"learning_rate": 1e-3}, 12),  # the paper's recipe (section 5.1)
    "prop_lr1e-3": ("PROP", {"learning_rate": 1e-3}, 12),  # the same for PROP
    "prop_lr2e-3": ("PROP", {"learning_rate": 2e-3}, 12),
}
ENTRIES = {
    "mnist": {"ORIG": "cnn_mnist", "PROP": "cnn_rbf_mnist"},
    "fashion_mnist": {"ORIG": "cnn_fashion_mnist", "PROP": "cnn_rbf_fashion_mnist"},
}


def run_config(dataset: str, config: str, seed: int) -> dict:
    """Trains one configuration with one seed (or reads the finished run); its curve."""
    role, changes, epochs = CONFIGS[config]
    name = ENTRIES[dataset][role]
    run_dir = Path("runs") / "sweep" / dataset / f"{config}-seed{seed}"
    lr = changes["learning_rate"]
    command = f"keras-rbf train {name} --seed {seed} --epochs {epochs} --learning-rate {lr}"
    if not (run_dir / "results.json").is_file():
        engine.run(CNNRecipe(name, epochs, 128, seed, run_dir, command, verbose=2, **changes))
    block = json.loads((run_dir / "results.json").read_text())["training"][str(seed)]
    history = block["history"]
    return {
        "config": config,
        "role": role,
        "changes": changes,
        "seed": seed,
        "epochs": epochs,
        "command": command,
        "val_accuracy": history["val_accuracy"],
        "train_accuracy": history["accuracy"],
        "live_fraction_validation": {k: v[-1] for k, v in history.get("live_fraction", {}).items()},
    }


def choose(rows: list[dict]) -> dict:
    """Per configuration: the epoch maximizing its mean validation curve over seeds
    (`training.select_epochs.choose_epochs`, the one rule for choosing epochs)."""
    out = {}
    for config in dict.fromkeys(r["config"] for r in rows):
        runs = [r for r in rows if r["config"] == config]
        best, mean = choose_epochs([{"val_accuracy": r["val_accuracy"]} for r in runs])
        out[config] = {
            "seeds": len(runs),
            "epochs": best,
            "val_accuracy": round(float(mean[best - 1]), 4),
            "val_accuracy_last": round(float(mean[-1]), 4),
        }
    return out


def table(rows: list[dict], chosen: dict) -> str:
    """Markdown: one line per configuration."""
    lines = [
        "| config | role | seeds | max epochs | chosen epochs (val argmax) | val acc there | "
        "val acc at max | min live (val) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for config, c in chosen.items():
        rs = [r for r in rows if r["config"] == config]
        live = [v for r in rs for v in r["live_fraction_validation"].values()]
        lines.append(
            f"| {config} | {rs[0]['role']} | {c['seeds']} | {rs[0]['epochs']} | {c['epochs']} | "
            f"{c['val_accuracy']:.4f} | {c['val_accuracy_last']:.4f} | "
            f"{min(live) if live else '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("dataset", choices=sorted(ENTRIES))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out-dir", default="training/sweeps")
    args = parser.parse_args(argv)
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {', '.join(CONFIGS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [run_config(args.dataset, c, s) for c in configs for s in seeds]
    chosen = choose(rows)
    out = Path(args.out_dir) / f"sweep_prop_{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m training.sweep_prop " + " ".join(shlex.quote(a) for a in argv or [])
    record = {"dataset": args.dataset, "command": command, "chosen": chosen, "rows": rows}
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(table(rows, chosen))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
