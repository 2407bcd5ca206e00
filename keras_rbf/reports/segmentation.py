"""Tables 4-6 and Fig. 5 of the paper for a segmentation set: `keras-rbf reproduce synthlesion`.

For U-Net and V-Net, plain (ORIG) and with RBF blocks (PROP), from the zoo:

- Table 4 (white box): Dice (mean +- standard error over test images) on clean images and
  under DAG (gamma 0.03) after 10 and 30 iterations, with the % drop from clean, for ORIG,
  FSG (Gaussian squeezing, sigma 1.0), FSM (median squeezing, 3x3), ADVT (ORIG
  fine-tuned with DAG adversarial examples within the run) and PROP. The attack sees the
  whole defended pipeline: its gradients pass through the squeezers (the median's
  sub-gradient selects the median pixel), so FSG/FSM are attacked white-box too.
- Table 5 (black box): DAG images crafted on one model, Dice of another (transfer
  matrix over U-Net, U-PROP, V-Net, V-PROP); the diagonal is the white-box result.
- Table 6 (ablation): V-Net with RBF blocks with Psi and beta learned or frozen
  (4 variants), Dice, FPR and FNR clean and under DAG 10/30. For synthlesion the four
  are zoo entries trained with one recipe and seed (`ablation_models`); for a data set
  without them (ISIC 2017) they are trained within the run with a short schedule.
- Fig. 5: overlays of ground truth and predictions of every defense under DAG 30.
- Gradient-masking checks: 30 iterations hurt at least as much as 10; white box hurts at
  least as much as every transfer attack.

Writes `results.json`, `README.md` (the tables) and `fig5_unet.png` / `fig5_vnet.png`
under `reports/<dataset>/`. For ISIC 2017 the zoo's `*_skin` weights and the data
(`--data-dir`) are needed; neither is in reach on the machine that built this package.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from keras_rbf import zoo
from keras_rbf.analysis.segmentation_metrics import scores
from keras_rbf.attacks.dag import DAG
from keras_rbf.cli_args import ArgumentParser, positive_int
from keras_rbf.datasets import load_entry
from keras_rbf.defenses.adversarial_training import adversarial_fit
from keras_rbf.errors import UserError
from keras_rbf.evaluate import predict_masks
from keras_rbf.evaluate import segmentation_live_fractions as rbf_live_fractions
from keras_rbf.models.compiling import compile_segmentation
from keras_rbf.reports import masking

__all__ = ["run", "main", "zoo_models", "ablation_models", "write_markdown"]

# Builder function -> network name in the paper's tables.
NETWORKS = {"build_unet": "U-Net", "build_vnet": "V-Net"}
METHODS = ("ORIG", "FSG", "FSM", "ADVT", "PROP")
ABLATION = ((False, False), (False, True), (True, False), (True, True))  # (learn_psi, learn_beta)


def zoo_models(dataset: str) -> dict[str, tuple[str, str]]:
    """`{network: (ORIG entry, PROP entry)}` of a data set, read from the zoo's cards."""
    out = {}
    for orig in zoo.find(dataset=dataset, family="segmentation", role="ORIG"):
        net = NETWORKS[zoo.card(orig)["builder"].rsplit(":", 1)[1]]
        props = [
            n for n in zoo.find(dataset=dataset, role="PROP") if zoo.card(n)["variant_of"] == orig
        ]
        if props:
            out[net] = (orig, props[0])
    return out


def ablation_models(prop: str) -> dict[tuple[bool, bool], str]:
    """`{(learn_psi, learn_beta): entry}`: the PROP entry and its ABLATION variants
    (trained with the same recipe), read from the zoo's cards."""
    out = {}
    for name in [prop, *zoo.find(role="ABLATION", variant_of=prop)]:
        rbf = zoo.card(name)["builder_kwargs"].get("rbf_kwargs", {})
        out[(rbf.get("learn_psi", True), rbf.get("learn_beta", True))] = name
    return out


def _squeezers() -> dict[str, Callable]:
    from keras_rbf.defenses.squeezing import gaussian_squeeze, median_squeeze

    return {
        "FSG": lambda x: gaussian_squeeze(x, sigma=1.0),
        "FSM": lambda x: median_squeeze(x, size=3),
    }


def _log(message: str) -> None:
    import sys

    print(f"[reproduce segmentation] {message}", file=sys.stderr, flush=True)


def _pipeline(model, squeeze=None) -> Callable:
    """A logits callable: `model(squeeze(x))` (gradients flow through the squeezer)."""
    if squeeze is None:
        return model
    return lambda x: model(squeeze(x))


def _fmt(s: dict) -> str:
    return f"{s['mean']:.4f} ± {s['se']:.4f}"


def _attack_and_score(fn, x, y, iterations, gamma, batch_size) -> tuple[dict, dict]:
    """DAG against `fn`; returns (`{"clean"|"10i"|...: scores}`, `{m: adversarial images}`)."""
    res = DAG(fn, gamma=gamma, iterations=max(iterations), batch_size=batch_size).run(
        x, y, record_at=iterations
    )
    out = {"clean": scores(predict_masks(fn, x, batch_size), y)}
    for m in iterations:
        out[f"{m}i"] = scores(predict_masks(fn, res.snapshots[m], batch_size), y)
        out[f"{m}i"]["drop_percent"] = (
            100.0
            * (out["clean"]["dice"]["mean"] - out[f"{m}i"]["dice"]["mean"])
            / max(out["clean"]["dice"]["mean"], 1e-12)
        )
        out[f"{m}i"]["mean_iterations_run"] = float(np.mean(np.minimum(res.iterations_run, m)))
    return out, res.snapshots


def _load_models(pairs, weights, overrides) -> dict:
    models = {}
    for net, (orig, prop) in pairs.items():
        for method, entry in (("ORIG", orig), ("PROP", prop)):
            models[(net, method)] = (entry, zoo.load(entry, weights=weights, **(overrides or {})))
    return models


def run(
    dataset: str = "synthlesion",
    data_dir: str | None = None,
    out_dir: str | Path | None = None,
    num_test: int = 32,
    iterations: tuple[int, ...] = (10, 30),
    gamma: float = 0.03,
    advt_train: int = 256,
    advt_epochs: int = 2,
    advt_iterations: int = 5,
    ablation_train: int = 512,
    ablation_epochs: int = 3,
    seed: int = 0,
    batch_size: int = 32,
    weights: str | None = "pretrained",
    build_overrides: dict | None = None,
    command: str | None = None,
    num_figure: int = 4,
    data: dict | None = None,
    networks: tuple[str, ...] = ("U-Net", "V-Net"),
    ablation: tuple[tuple[bool, bool], ...] = ABLATION,
    ablation_source: str = "zoo",
) -> dict:
    """Runs Tables 4-6 and Fig. 5 on `dataset` and writes JSON, Markdown and PNGs.

    Args:
        dataset: "synthlesion" or "isic2017".
        data_dir: ISIC 2017 root (default `$KERAS_RBF_ISIC2017_DIR`).
        out_dir: output folder; default `reports/<dataset>`.
        num_test: test images attacked (the first ones of the test split).
        iterations: DAG iteration counts reported (one run to the largest).
        gamma: DAG step scale (paper: 0.03).
        advt_train, advt_epochs, advt_iterations: ADVT fine-tunes ORIG on this many
            training images for this many epochs, half of each batch replaced by DAG
            images of `advt_iterations` iterations against the current model.
        ablation_train, ablation_epochs: Table 6 V-Nets not taken from the zoo are trained
            from scratch on this many training images for this many epochs (ADADELTA,
            paper settings).
        seed: seed of everything trained within the run.
        batch_size: attack/prediction batch size.
        weights: "pretrained" (the zoo's published weights) or None (untrained
            architectures: only for smoke tests of the pipeline).
        build_overrides: builder arguments replacing the cards' (with `weights=None`).
        command: the command line recorded in the report.
        num_figure: images shown in the Fig. 5 overlays.
        data: `{"train": (x, y), "test": (x, y)}` to use instead of the cards' data set
            (for tests).
        networks: which of "U-Net", "V-Net" to evaluate (Table 6 uses V-Net when
            it is among them, as the paper does, else U-Net).
        ablation: `(learn_psi, learn_beta)` variants of Table 6.
        ablation_source: "zoo" takes the variants from `ablation_models` where the data set
            has them (same recipe as the PROP model) and trains the others here; "train"
            trains all of them here with `ablation_train` / `ablation_epochs`.

    Returns:
        The results dict written to `results.json`.
    """
    # Why this function is long: Tables 4-6 in the paper's order; each table is one call, the rest
    # is their shared settings (a split is planned)
    if ablation_source not in ("zoo", "train"):
        raise ValueError(f"ablation_source must be 'zoo' or 'train', got {ablation_source!r}")
    available = zoo_models(dataset)
    if not available:
        raise UserError(f"no segmentation zoo entries for data set {dataset!r}")
    unknown = [n for n in networks if n not in available]
    if unknown or not networks:
        raise UserError(f"networks must be among {sorted(available)}, got {networks}")
    pairs = {n: available[n] for n in networks}
    t_start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    out_dir = Path(out_dir or Path("reports") / dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    card = zoo.card(next(iter(pairs.values()))[0])
    data = data or load_entry(card["dataset"], data_dir)
    x_test, y_test = data["test"][0][:num_test], data["test"][1][:num_test].astype("int32")
    x_train, y_train = data["train"][0], data["train"][1].astype("int32")
    iterations = tuple(sorted(set(int(m) for m in iterations)))
    models = _load_models(pairs, weights, build_overrides)
    timings: dict[str, float] = {}
    advt = {"train_images": advt_train, "epochs": advt_epochs, "dag_iterations": advt_iterations}
    _add_advt(models, pairs, x_train, y_train, gamma, advt, seed, timings)
    table4, adversarial, predictions = _table4(
        models, pairs, x_test, y_test, iterations, gamma, batch_size, num_figure, timings
    )
    table5, label = _table5(models, pairs, adversarial, y_test, iterations, batch_size)
    t = time.perf_counter()
    prop_net = "V-Net" if "V-Net" in pairs else "U-Net"
    prop_entry = pairs[prop_net][1]
    schedule = {"train_images": ablation_train, "epochs": ablation_epochs}
    variants = ablation_models(prop_entry) if ablation_source == "zoo" else {}
    attack = {"iterations": iterations, "gamma": gamma, "batch_size": batch_size}
    build = {"schedule": schedule, "seed": seed, "weights": weights, "overrides": build_overrides}
    cut = {"train": (x_train, y_train), "test": (x_test, y_test)}
    table6 = _table6(prop_entry, variants, ablation, cut, attack, build)
    timings["table6"] = round(time.perf_counter() - t, 1)

    live = {
        models[(net, "PROP")][0]: rbf_live_fractions(models[(net, "PROP")][1], x_test)
        for net in pairs
    }
    checks = masking.segmentation_checklist(table4, table5, iterations, label)
    figures = [
        _figure(
            out_dir / f"fig5_{net.lower().replace('-', '')}.png",
            net,
            x_test[:num_figure],
            y_test[:num_figure],
            predictions,
            max(iterations),
        )
        for net in pairs
    ]
    timings["total"] = round(time.perf_counter() - t_start, 1)
    results = {
        "dataset": dataset,
        "synthetic": dataset.startswith("synth"),
        "command": command,
        "models": {f"{net} {m}": models[(net, m)][0] for net, m in models},
        "weights": weights,
        "settings": _settings(
            pairs,
            len(x_test),
            gamma,
            iterations,
            advt,
            ablation_source,
            {**schedule, "train_images": min(ablation_train, len(x_train))},
            seed,
            prop_entry,
        ),
        "table4": table4,
        "table5": table5,
        "table6": table6,
        "rbf_live_fraction_test": live,
        "gradient_masking_checks": checks,
        "figures": [f.name for f in figures],
        "seconds": timings,
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "README.md").write_text(write_markdown(results))
    return results


def _add_advt(models, pairs, x_train, y_train, gamma, advt, seed, timings) -> None:
    """ADVT: ORIG fine-tuned with DAG examples crafted against the model being trained;
    adds `models[(net, "ADVT")]`."""
    for net in pairs:
        t = time.perf_counter()
        entry, base = models[(net, "ORIG")]
        model = keras.models.clone_model(base)
        model.set_weights(base.get_weights())
        compile_segmentation(model)
        if advt["epochs"] > 0:  # 0: ADVT = ORIG, for smoke tests of the pipeline only
            n = advt["train_images"]
            dag_attack = DAG(model, gamma=gamma, iterations=advt["dag_iterations"])
            adversarial_fit(
                model,
                x_train[:n],
                y_train[:n],
                dag_attack,
                epochs=advt["epochs"],
                batch_size=16,
                adversarial_fraction=0.5,
                seed=seed,
            )
        models[(net, "ADVT")] = (f"{entry} + ADVT fine-tuning (this run)", model)
        timings[f"advt_{net}"] = round(time.perf_counter() - t, 1)
        _log(f"ADVT {net}: {timings[f'advt_{net}']} s")


def _table4(
    models, pairs, x_test, y_test, iterations, gamma, batch_size, num_figure, timings
) -> tuple[dict, dict, dict]:
    """Table 4 (white box) and the adversarial images reused by Table 5 and Fig. 5.

    Returns:
        `(table4, adversarial, predictions)` keyed by net and `(net, method)`.
    """
    squeezers = _squeezers()
    table4, adversarial, predictions = {}, {}, {}
    for net in pairs:
        table4[net] = {}
        for method in METHODS:
            t = time.perf_counter()
            base_key = (net, "ORIG") if method in squeezers else (net, method)
            fn = _pipeline(models[base_key][1], squeezers.get(method))
            table4[net][method], snaps = _attack_and_score(
                fn, x_test, y_test, iterations, gamma, batch_size
            )
            adversarial[(net, method)] = snaps
            predictions[(net, method)] = {
                "clean": predict_masks(fn, x_test[:num_figure]),
                "adv": predict_masks(fn, snaps[max(iterations)][:num_figure]),
            }
            timings[f"table4_{net}_{method}"] = round(time.perf_counter() - t, 1)
            _log(f"Table 4 {net} {method}: {timings[f'table4_{net}_{method}']} s")
    return table4, adversarial, predictions


def _table5(models, pairs, adversarial, y_test, iterations, batch_size) -> tuple[dict, dict]:
    """Table 5 (black box): rows = source of the DAG images, columns = attacked model.

    Returns:
        `(table5, label)`: `{"<m>i": {source: {target: scores}}}` and `(net, role) -> name`.
    """
    nets = [(net, m) for net in pairs for m in ("ORIG", "PROP")]
    label = {
        ("U-Net", "ORIG"): "U-Net",
        ("U-Net", "PROP"): "U-PROP",
        ("V-Net", "ORIG"): "V-Net",
        ("V-Net", "PROP"): "V-PROP",
    }
    table5 = {}
    for m in iterations:
        table5[f"{m}i"] = {
            label[src]: {
                label[dst]: scores(
                    predict_masks(models[dst][1], adversarial[src][m], batch_size), y_test
                )
                for dst in nets
            }
            for src in nets
        }
    return table5, label


def _table6(prop_entry, zoo_variants, ablation, data: dict, attack: dict, build: dict) -> dict:
    """Table 6: the PROP net with Psi / beta learned or frozen, from the zoo where
    `zoo_variants` has the variant (same recipe as PROP), else trained here on
    `schedule["train_images"]` images for `schedule["epochs"]` epochs.

    Args:
        prop_entry: the PROP zoo entry whose variants Table 6 compares.
        zoo_variants: `{(learn_psi, learn_beta): zoo entry}` (`ablation_models`).
        ablation: the `(learn_psi, learn_beta)` variants to report.
        data: `{"train": (x, y), "test": (x, y)}` (labels int32, test already cut).
        attack: DAG's `iterations`, `gamma` and `batch_size`.
        build: `schedule`, `seed`, `weights` and builder `overrides`.

    Returns:
        `{variant: DAG scores, "rbf_live_fraction_test", "source"}`.
    """
    (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
    schedule, seed, weights = build["schedule"], build["seed"], build["weights"]
    build_overrides = build["overrides"]
    t = time.perf_counter()
    table6 = {}
    for learn_psi, learn_beta in ablation:
        psi, beta = "learned" if learn_psi else "identity", "learned" if learn_beta else "fixed"
        variant = f"psi={psi}, beta={beta}"
        entry = zoo_variants.get((learn_psi, learn_beta))
        if entry:
            model = zoo.load(entry, weights=weights, **(build_overrides or {}))
            source = f"zoo:{entry}"
        else:
            keras.utils.set_random_seed(seed)
            rbf_kwargs = {
                **zoo.card(prop_entry)["builder_kwargs"].get("rbf_kwargs", {}),
                "learn_psi": learn_psi,
                "learn_beta": learn_beta,
            }
            model = zoo.build(prop_entry, **{**(build_overrides or {}), "rbf_kwargs": rbf_kwargs})
            n, epochs = schedule["train_images"], schedule["epochs"]
            if epochs > 0:  # 0: untrained, for smoke tests of the pipeline only
                compile_segmentation(model)
                model.fit(
                    x_train[:n], y_train[:n], batch_size=16, epochs=epochs, shuffle=True, verbose=0
                )
            source = f"trained in this run ({epochs} epochs on {min(n, len(x_train))} images)"
        res, _ = _attack_and_score(
            model, x_test, y_test, attack["iterations"], attack["gamma"], attack["batch_size"]
        )
        res["rbf_live_fraction_test"] = rbf_live_fractions(model, x_test)
        res["source"] = source
        table6[variant] = res
        _log(f"Table 6 {variant} ({source}): {round(time.perf_counter() - t, 1)} s so far")
    return table6


def _settings(
    pairs, num_test, gamma, iterations, advt, ablation_source, schedule, seed, prop_entry
) -> dict:
    """The run's settings as `results.json` records them."""
    return {
        "networks": list(pairs),
        "num_test": int(num_test),
        "dag": {
            "gamma": gamma,
            "iterations": list(iterations),
            "clip": [0.0, 1.0],
            "targets": "flipped labels",
            "true_labels": "ground truth",
        },
        "FSG": "gaussian_squeeze(sigma=1.0)",
        "FSM": "median_squeeze(size=3)",
        "ADVT": {
            "from": "ORIG zoo weights",
            **advt,
            "adversarial_fraction": 0.5,
            "optimizer": "Adadelta(1.0, rho=0.95)",
            "batch_size": 16,
        },
        "ablation": {
            "source": ablation_source,
            **schedule,
            "optimizer": "Adadelta(1.0, rho=0.95)",
            "batch_size": 16,
            "seed": seed,
            "architecture": prop_entry,
        },
        "white_box": "DAG gradients through the whole pipeline, squeezers included",
    }


def _figure(path: Path, net: str, x, y, predictions, iters) -> Path:
    import matplotlib

    from keras_rbf.reports.figures import pyplot

    plt = pyplot()
    red = matplotlib.colors.ListedColormap(["red"])
    n = len(x)
    fig, axes = plt.subplots(
        n, len(METHODS) + 1, figsize=(2.0 * (len(METHODS) + 1), 2.0 * n), squeeze=False
    )
    for i in range(n):
        axes[i, 0].imshow(x[i])
        axes[i, 0].contour(y[i], levels=[0.5], colors="lime", linewidths=1)
        if i == 0:
            axes[i, 0].set_title("image + GT", fontsize=8)
        for j, method in enumerate(METHODS, start=1):
            axes[i, j].imshow(x[i])
            pred = predictions[(net, method)]["adv"][i]
            # Filled overlay: under attack the prediction is often "everything but the
            # lesion", which contours alone make hard to read.
            axes[i, j].imshow(
                np.ma.masked_where(pred == 0, pred), cmap=red, alpha=0.45, vmin=0, vmax=1
            )
            axes[i, j].contour(y[i], levels=[0.5], colors="lime", linewidths=1)
            if i == 0:
                axes[i, j].set_title(f"{method} (DAG {iters}i)", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(
        f"{net}: ground truth (green outline) and predicted lesion under DAG {iters} "
        "iterations (red fill)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_markdown(r: dict) -> str:
    """The human-readable report of a `run` result."""
    # Why this function is long: the report's sections in reading order, one block each
    its = r["settings"]["dag"]["iterations"]
    lines = [f"# Segmentation robustness on `{r['dataset']}` (paper Tables 4-6, Fig. 5)", ""]
    if r["synthetic"]:
        lines += [
            "**SYNTHETIC data.** These images come from `keras_rbf.datasets.synthetic_lesions`, "
            "not from ISIC 2017; the numbers below test the pipeline and say nothing about "
            "skin-lesion segmentation. ISIC 2017 numbers need the real data "
            "(`keras-rbf reproduce isic2017 --data-dir ROOT` with trained `*_skin` weights).",
            "",
        ]
    if r["weights"] is None:
        lines += ["**Untrained models (smoke test).**", ""]
    lines += [
        f"Command: `{r['command']}`",
        "",
        f"Test images attacked: {r['settings']['num_test']}; DAG gamma "
        f"{r['settings']['dag']['gamma']}, {' and '.join(map(str, its))} iterations, flipped "
        "labels as targets, ground truth as true labels, images clipped to [0, 1] after each "
        "step. White box: " + r["settings"]["white_box"] + ".",
        "",
        "## Table 4: white box, Dice mean ± standard error (% drop from clean)",
        "",
        "| Network | Method | Clean | " + " | ".join(f"{m}i" for m in its) + " |",
        "|---|---|---|" + "---|" * len(its),
    ]
    for net, rows in r["table4"].items():
        for method, res in rows.items():
            cells = [
                f"{_fmt(res[f'{m}i']['dice'])} ({res[f'{m}i']['drop_percent']:.2f}%)" for m in its
            ]
            lines.append(
                f"| {net} | {method} | {_fmt(res['clean']['dice'])} | " + " | ".join(cells) + " |"
            )
    a = r["settings"]["ADVT"]
    lines += [
        "",
        f"ADVT: the ORIG zoo model fine-tuned here for {a['epochs']} epochs on {a['train_images']} "
        f"training images, half of each batch replaced by DAG ({a['dag_iterations']} iterations) "
        "images against the current model. FSG/FSM: the ORIG model behind the squeezer.",
        "",
    ]
    for key, matrix in r["table5"].items():
        cols = list(matrix)
        lines += [
            f"## Table 5: black box (transfer), DAG {key}, Dice mean ± standard error",
            "",
            "rows: model the DAG images were crafted on; columns: model tested; "
            "diagonal: white box.",
            "",
            "| source \\ target | " + " | ".join(cols) + " |",
            "|---|" + "---|" * len(cols),
        ]
        for src, row in matrix.items():
            lines.append(
                f"| {src} | "
                + " | ".join(
                    ("**" + _fmt(row[c]["dice"]) + "**") if c == src else _fmt(row[c]["dice"])
                    for c in cols
                )
                + " |"
            )
        lines.append("")
    lines += [
        "## Table 6: ablation, V-Net + RBF with Psi / beta learned or not",
        "",
        "Where each model comes from: "
        + "; ".join(f"{v}: {res['source']}" for v, res in r["table6"].items())
        + ". Zoo variants share the PROP model's recipe (data, epochs, seed); models trained in "
        "the run use a shorter schedule, so compare them with each other only.",
        "",
        "| Psi, beta | Attack | Dice | FPR | FNR | RBF live fraction (min over layers) |",
        "|---|---|---|---|---|---|",
    ]
    for variant, res in r["table6"].items():
        live = res.get("rbf_live_fraction_test") or {}
        live_s = f"{min(live.values()):.3f}" if live else "-"
        for key in ["clean"] + [f"{m}i" for m in its]:
            lines.append(
                f"| {variant} | {key} | {_fmt(res[key]['dice'])} | {_fmt(res[key]['fpr'])} | "
                f"{_fmt(res[key]['fnr'])} | {live_s if key == 'clean' else ''} |"
            )
    lines += [
        "",
        "## RBF live fractions of the PROP models (phi in (1e-3, 0.999), test images)",
        "",
    ]
    for entry, fr in r["rbf_live_fraction_test"].items():
        lines.append(f"- `{entry}`: " + ", ".join(f"{k} {v:.3f}" for k, v in fr.items()))
    lines += ["", "## Gradient-masking checks", ""] + masking.markdown(r["gradient_masking_checks"])
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in r["figures"]]
    lines += ["", f"Seconds: {json.dumps(r['seconds'])}", ""]
    return "\n".join(lines)


def _parser(dataset: str) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=f"keras-rbf reproduce {dataset}")
    parser.add_argument(
        "--data-dir", default=None, help="ISIC 2017 root (default $KERAS_RBF_ISIC2017_DIR)"
    )
    parser.add_argument(
        "--weights-dir",
        default=None,
        help="folder with <name>/<name>.weights.h5 (sets $KERAS_RBF_WEIGHTS_DIR)",
    )
    parser.add_argument("--out-dir", default=None, help=f"default reports/{dataset}")
    parser.add_argument("--n-test", type=positive_int, default=32, help="test images (default 32)")
    parser.add_argument("--iterations", type=positive_int, nargs="+", default=[10, 30])
    parser.add_argument("--gamma", type=float, default=0.03)
    parser.add_argument("--advt-train", type=positive_int, default=256)
    parser.add_argument("--advt-epochs", type=positive_int, default=2)
    parser.add_argument("--advt-iterations", type=positive_int, default=5)
    parser.add_argument("--ablation-train", type=positive_int, default=512)
    parser.add_argument("--ablation-epochs", type=positive_int, default=3)
    parser.add_argument(
        "--ablation-source",
        choices=["zoo", "train"],
        default="zoo",
        help="Table 6 models from the zoo (where published) or trained in the run",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the models trained in the run (ADVT, Table 6 with "
        "--ablation-source train) (default 0); DAG is deterministic",
    )
    return parser


def main(dataset: str, argv: list[str] | None = None) -> int:
    """`keras-rbf reproduce synthlesion|isic2017 [--n-test N] [--data-dir ROOT] ...`."""
    args = _parser(dataset).parse_args(argv)
    if args.weights_dir:
        os.environ["KERAS_RBF_WEIGHTS_DIR"] = args.weights_dir
    command = "keras-rbf reproduce " + " ".join(shlex.quote(a) for a in [dataset, *(argv or [])])
    res = run(
        dataset,
        data_dir=args.data_dir,
        out_dir=args.out_dir,
        num_test=args.n_test,
        iterations=tuple(args.iterations),
        gamma=args.gamma,
        advt_train=args.advt_train,
        advt_epochs=args.advt_epochs,
        advt_iterations=args.advt_iterations,
        ablation_train=args.ablation_train,
        ablation_epochs=args.ablation_epochs,
        seed=args.seed,
        command=command,
        ablation_source=args.ablation_source,
    )
    print(write_markdown(res))
    return 0
