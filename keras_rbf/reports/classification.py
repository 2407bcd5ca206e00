"""`keras-rbf reproduce mnist|fashion_mnist`: Table 1, Table 2, Fig. 3, 4, 6 of the paper.

Loads ORIG (`cnn_<dataset>`) and PROP (`cnn_rbf_<dataset>`) from the zoo, attacks both
on the test split with the paper's settings and with the strong attack, runs the
gradient-masking checklist (Athalye et al. 2018), scores the clustering of last-layer
features, and writes `reports/<dataset>/`: `table1.json`, `table1.md` (the report a
reader opens; every number in it is read from the JSON), `analysis.json` (checklist,
curves, transfer, clustering) and PNG figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_rbf import attacks, datasets, zoo
from keras_rbf.callbacks import rbf_layers

__all__ = ["main", "record_in_cards", "PAPER_TABLE1", "TABLE1_KEYS"]

TABLE1_KEYS = ["clean", "fgsm", "bim", "mim", "pgd", "cw", "spsa", "gn",
               "strong_linf_0.1", "strong_linf_0.3"]
# Paper, Table 1 (full MNIST), as read in docs/design.md; None where not readable.
PAPER_TABLE1 = {
    "ORIG": {"clean": 0.9930, "fgsm": 0.0968, "bim": 0.0070, "mim": 0.006, "pgd": 0.1365,
             "cw": 0.1808, "spsa": None, "gn": None},
    "PROP": {"clean": 0.9942, "fgsm": 0.8582, "bim": 0.7887, "mim": 0.6425, "pgd": 0.8157,
             "cw": 0.6058, "spsa": 0.7092, "gn": None},
}
PAPER_TABLE2 = {"ORIG": {"silhouette": 0.2612, "calinski_harabasz": 1658},
                "PROP": {"silhouette": 0.4284, "calinski_harabasz": 2570}}
# Attacks that cost many model evaluations per image run on the first `n_expensive`.
EXPENSIVE = ("cw", "strong_linf_0.1", "strong_linf_0.3")
# SPSA evaluates the model 2 x 64 times per step, one image at a time: fewer images still.


def _features(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    """Outputs of each conv block (after its RBF block if any) and the last layer's input."""
    names = [l.name for l in model.layers if l.name.startswith("conv")]
    outs = []
    for name in names:
        block = name.replace("conv", "block") + "_concat"
        outs.append(model.get_layer(block if block in [l.name for l in model.layers] else name).output)
    outs.append(model.get_layer("logits").input)
    feats = keras.Model(model.inputs, outs).predict(x, batch_size=250, verbose=0)
    return [f.reshape(len(x), -1) for f in feats]


def clustering_scores(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """Table 2: k-means (k = number of classes) on features, scored by scikit-learn."""
    from sklearn import metrics
    from sklearn.cluster import KMeans

    k = len(np.unique(labels))
    pred = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(features)
    return {
        "silhouette": float(metrics.silhouette_score(features, pred)),
        "calinski_harabasz": float(metrics.calinski_harabasz_score(features, pred)),
        "mutual_information": float(metrics.adjusted_mutual_info_score(labels, pred)),
        "homogeneity": float(metrics.homogeneity_score(labels, pred)),
        "completeness": float(metrics.completeness_score(labels, pred)),
    }


def input_gradient_norms(model: keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """L1 norm of d(cross-entropy)/d(input) per example (Fig. 3b)."""
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(xt))
    grad = tape.gradient(loss, xt).numpy()
    return np.abs(grad).reshape(len(x), -1).sum(-1)


def _checklist(res: dict, curves: dict, transfer: dict, subset_pgd: dict,
               subset_strong: dict) -> list[dict]:
    """Athalye et al. (2018) sanity checks as pass/fail rows; `subset_pgd` holds each
    model's paper-PGD accuracy on the images the strong attack used, `subset_strong` the
    strong attack's (eps 0.3) on the images SPSA used."""
    tol = 0.02
    rows = []
    for name, r in res.items():
        rows.append({"model": name, "check": "iterative (BIM) at least as strong as one-step (FGSM)",
                     "values": f"BIM {r['bim']:.3f} vs FGSM {r['fgsm']:.3f}",
                     "pass": r["bim"] <= r["fgsm"] + tol})
        worst_grad = subset_strong[name]
        rows.append({"model": name, "check": "gradient-free (SPSA) no stronger than gradient-based "
                     "(same images)",
                     "values": f"SPSA {r['spsa']:.3f} vs strong 0.3 {worst_grad:.3f}",
                     "pass": r["spsa"] >= worst_grad - tol})
        eps, acc = curves[name]["pgd"]
        rows.append({"model": name, "check": "accuracy falls to ~0 as eps grows (PGD, eps 0.5)",
                     "values": f"acc {acc[-1]:.3f} at eps {eps[-1]}",
                     "pass": acc[-1] <= 0.05})
        pgd_sub = subset_pgd[name]
        rows.append({"model": name, "check": "strong attack at least as strong as the paper's PGD "
                     "(same images)",
                     "values": f"strong 0.1 {r['strong_linf_0.1']:.3f} vs PGD 0.1 {pgd_sub:.3f}",
                     "pass": r["strong_linf_0.1"] <= pgd_sub + tol})
    for name, t in transfer.items():
        rows.append({"model": name, "check": "white-box at least as strong as transfer from ORIG (PGD)",
                     "values": f"white-box {t['white_box']:.3f} vs transfer {t['transfer']:.3f}",
                     "pass": t["white_box"] <= t["transfer"] + tol})
    return rows


def _plots(out: Path, curves: dict, grad_norms: dict, feats: dict, labels: np.ndarray,
           psi_history: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    files = []
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, c in curves.items():
        axes[0].plot(*c["pgd"], marker="o", label=name)
        axes[1].plot(*c["gn"], marker="o", label=name)
        axes[2].hist(np.log10(grad_norms[name] + 1e-12), bins=40, alpha=0.6, label=name)
    axes[0].set(xlabel="L-inf eps", ylabel="accuracy", title="PGD (Fig. 3a)")
    axes[1].set(xlabel="L2 eps", ylabel="accuracy", title="Gaussian noise (Fig. 3a)")
    axes[2].set(xlabel="log10 ||dL/dx||_1", ylabel="examples", title="Input gradients (Fig. 3b)")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fig3_masking.png", dpi=110)
    plt.close(fig)
    files.append("fig3_masking.png")

    names = list(feats)
    n_layers = len(feats[names[0]])
    fig, axes = plt.subplots(len(names), n_layers + 1, figsize=(3.2 * (n_layers + 1), 3.2 * len(names)))
    for i, name in enumerate(names):
        for j, f in enumerate(feats[name]):
            perplexity = min(30.0, (len(f) - 1) / 3.0)  # TSNE needs perplexity < n
            emb = TSNE(n_components=2, init="pca", random_state=0,
                       perplexity=perplexity).fit_transform(f)
            axes[i, j].scatter(emb[:, 0], emb[:, 1], c=labels, s=3, cmap="tab10")
            axes[i, j].set_title(f"{name}: t-SNE layer {j + 1}", fontsize=9)
        pca = PCA(2).fit_transform(feats[name][-1])
        axes[i, -1].scatter(pca[:, 0], pca[:, 1], c=labels, s=3, cmap="tab10")
        axes[i, -1].set_title(f"{name}: PCA last layer", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "fig4_embeddings.png", dpi=100)
    plt.close(fig)
    files.append("fig4_embeddings.png")

    if psi_history:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for layer, values in psi_history.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", label=layer)
        ax.set(xlabel="epoch", ylabel="||Psi_t - Psi_{t-1}||_F", yscale="log",
               title="Psi convergence (Fig. 6)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "fig6_psi.png", dpi=110)
        plt.close(fig)
        files.append("fig6_psi.png")
    return files


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def _markdown(report: dict, files: list[str]) -> str:
    models = report["models"]
    names = list(models)
    roles = dict(zip(names, ["ORIG", "PROP"]))
    s = report["settings"]
    lines = [f"# {report['dataset']}: ORIG vs PROP under attack", "",
             f"Test images: {report['n_test']} ({s['data']}); the expensive attacks "
             f"({', '.join(EXPENSIVE)}) use the first {s['n_expensive']}, SPSA the first "
             f"{s['n_spsa']}. "
             f"Produced by `{s['command']}` in {report['seconds']:.0f} s.", "",
             "## Table 1: accuracy under attack", "",
             "| attack | settings | " + " | ".join(f"{n} ({roles[n]})" for n in names)
             + " | paper ORIG | paper PROP |",
             "|---" * (len(names) + 4) + "|"]
    for key in TABLE1_KEYS:
        base = key.split("_linf")[0]
        setting = json.dumps(s["attacks"].get(key, s["attacks"].get(base, {})))
        paper = [PAPER_TABLE1[r].get(key) if report["dataset"] == "mnist" else None
                 for r in ("ORIG", "PROP")]
        lines.append(f"| {key} | `{setting}` | " + " | ".join(_fmt(models[n][key]) for n in names)
                     + f" | {_fmt(paper[0])} | {_fmt(paper[1])} |")
    lines += ["", "## Gradient-masking checklist (Athalye et al. 2018)", "",
              "| model | check | values | result |", "|---|---|---|---|"]
    for row in report["checklist"]:
        lines.append(f"| {row['model']} | {row['check']} | {row['values']} | "
                     f"{'pass' if row['pass'] else '**FAIL**'} |")
    lines += ["", "## Table 2: k-means on last-layer features", "",
              "| model | silhouette | Calinski-Harabasz | adjusted MI | homogeneity | completeness |",
              "|---|---|---|---|---|---|"]
    for n in names:
        c = report["clustering"][n]
        lines.append(f"| {n} | {c['silhouette']:.4f} | {c['calinski_harabasz']:.1f} | "
                     f"{c['mutual_information']:.4f} | {c['homogeneity']:.4f} | {c['completeness']:.4f} |")
    if report["dataset"] == "mnist":
        lines.append(f"| paper ORIG / PROP | {PAPER_TABLE2['ORIG']['silhouette']} / "
                     f"{PAPER_TABLE2['PROP']['silhouette']} | {PAPER_TABLE2['ORIG']['calinski_harabasz']}"
                     f" / {PAPER_TABLE2['PROP']['calinski_harabasz']} | - | - | - |")
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in files]
    lines += ["", "## What this run supports", ""] + [f"- {c}" for c in report["claims"]]
    return "\n".join(lines) + "\n"


def _claims(report: dict) -> list[str]:
    names = list(report["models"])
    o, p = (report["models"][n] for n in names)
    fails = [r for r in report["checklist"] if not r["pass"]]
    out = [f"Clean accuracy: PROP {p['clean']:.4f} vs ORIG {o['clean']:.4f} "
           f"({'no drop' if p['clean'] >= o['clean'] - 0.005 else 'a drop of %.1f pp' % (100 * (o['clean'] - p['clean']))})."]
    better = [k for k in TABLE1_KEYS[1:] if p[k] > o[k] + 0.02]
    worse = [k for k in TABLE1_KEYS[1:] if p[k] < o[k] - 0.02]
    out.append("PROP is more accurate than ORIG (by > 2 pp) under: " + (", ".join(better) or "none")
               + "; less accurate under: " + (", ".join(worse) or "none") + ".")
    out.append(f"Strong attack (PGD CE + margin, {report['settings']['attacks']['strong']['nb_iter']} "
               f"steps, {report['settings']['attacks']['strong']['restarts']} restarts each): "
               f"eps 0.1 ORIG {o['strong_linf_0.1']:.3f} / PROP {p['strong_linf_0.1']:.3f}; "
               f"eps 0.3 ORIG {o['strong_linf_0.3']:.3f} / PROP {p['strong_linf_0.3']:.3f}.")
    out.append("Gradient-masking checks: " + ("all pass." if not fails else
               "failing: " + "; ".join(f"{r['model']}: {r['check']}" for r in fails) + "."))
    if report["dataset"] == "mnist":
        out.append("The paper's large robustness gains (e.g. PROP FGSM 0.86, PGD 0.82) are "
                   + ("reproduced" if p["pgd"] >= 0.8 * 0.8157 and p["fgsm"] >= 0.8 * 0.8582
                      else "not reproduced") + " by this run; see the strong-attack row for "
                   "what survives a stronger adversary.")
    return out


def record_in_cards(table1_path: str | Path) -> list[str]:
    """Copies each model's Table 1 row from a `table1.json` into its zoo card's
    "robustness" (with n_test, settings and the command that produced it).

    Returns:
        The names of the cards updated.
    """
    table = json.loads(Path(table1_path).read_text())
    for name, scores in table["models"].items():
        path = zoo.card_path(name)
        info = json.loads(path.read_text())
        info["robustness"] = {
            "source": "keras-rbf reproduce (keras_rbf/reports/classification.py)",
            "command": table["settings"]["command"].strip(),
            "n_test": table["n_test"],
            "n_expensive": table["settings"]["n_expensive"],
            "n_spsa": table["settings"]["n_spsa"],
            "attack_settings": table["settings"]["attacks"],
            "accuracy": scores,
        }
        path.write_text(json.dumps(info, indent=2) + "\n")
    return list(table["models"])


def main(dataset: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"keras-rbf reproduce {dataset}")
    parser.add_argument("--n-test", type=int, default=1000,
                        help="test images for the cheap attacks (default 1000)")
    parser.add_argument("--n-expensive", type=int, default=100,
                        help="test images for C&W and the strong attack (default 100)")
    parser.add_argument("--n-spsa", type=int, default=20,
                        help="test images for SPSA (default 20; <= --n-expensive)")
    parser.add_argument("--attacks", nargs="+", default=TABLE1_KEYS[1:],
                        choices=TABLE1_KEYS[1:])
    parser.add_argument("--orig", default=f"cnn_{dataset}")
    parser.add_argument("--prop", default=f"cnn_rbf_{dataset}")
    parser.add_argument("--out", default=f"reports/{dataset}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--update-cards", action="store_true",
                        help="also write each model's row into its zoo card's 'robustness'")
    args = parser.parse_args(argv)
    start = time.time()
    keras.utils.set_random_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    info = zoo.card(args.prop)["dataset"]
    x_all, y_all = datasets.load(info["name"], **info.get("kwargs", {}))["test"]
    x, y = x_all[: args.n_test], y_all[: args.n_test]
    n_exp = min(args.n_expensive, len(x))
    n_spsa = min(args.n_spsa, n_exp)
    models = {name: zoo.load(name) for name in (args.orig, args.prop)}
    settings = {k: dict(v) for k, v in attacks.PAPER_SETTINGS.items()}
    results, advs = {}, {}
    for name, model in models.items():
        r = {"clean": attacks.accuracy(model, x, y)}
        for key in args.attacks:
            n = n_spsa if key == "spsa" else n_exp if key in EXPENSIVE else len(x)
            xs, ys = x[:n], y[:n]
            if key.startswith("strong"):
                adv = attacks.generate(model, xs, ys, "strong", eps=float(key.split("_")[-1]))
            else:
                adv = attacks.generate(model, xs, ys, key)
            advs[(name, key)] = adv
            r[key] = attacks.accuracy(model, adv, ys)
            print(f"{name:24s} {key:16s} {r[key]:.4f}", flush=True)
        results[name] = {k: r.get(k) for k in TABLE1_KEYS}

    # Gradient-masking evidence on a subset: curves, transfer, gradient magnitudes.
    xc, yc = x[:n_exp], y[:n_exp]
    curves, grad_norms, transfer = {}, {}, {}
    pgd_eps = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    gn_eps = [0.0, 5.0, 10.0, 20.0, 40.0, 80.0]
    for name, model in models.items():
        pgd_acc = [attacks.accuracy(model, xc, yc) if e == 0 else attacks.accuracy(
            model, attacks.generate(model, xc, yc, "pgd", eps=e, nb_iter=20, progress=False), yc)
            for e in pgd_eps]
        gn_acc = [attacks.accuracy(model, xc, yc) if e == 0 else attacks.accuracy(
            model, attacks.generate(model, xc, yc, "gn", eps=e, progress=False), yc) for e in gn_eps]
        curves[name] = {"pgd": [pgd_eps, pgd_acc], "gn": [gn_eps, gn_acc]}
        grad_norms[name] = input_gradient_norms(model, xc, yc)
    if "pgd" in args.attacks:
        prop = models[args.prop]
        transfer[args.prop] = {"white_box": results[args.prop]["pgd"],
                               "transfer": attacks.accuracy(prop, advs[(args.orig, "pgd")], y)}
    clustering, feats = {}, {}
    n_emb = min(500, len(x))
    for name, model in models.items():
        f = _features(model, x[:n_emb])
        feats[name] = f
        clustering[name] = clustering_scores(_features(model, x)[-1], y, seed=args.seed)
    psi_history = {}
    history = zoo.card_path(args.prop).parent / "history.json"
    if history.is_file():
        psi_history = json.loads(history.read_text()).get("psi_change", {})

    report = {
        "dataset": dataset,
        "n_test": int(len(x)),
        "settings": {
            "data": info.get("description", info["name"]),
            "n_expensive": int(n_exp),
            "n_spsa": int(n_spsa),
            "attacks": {**{k: settings[k] for k in settings},
                        "bim": {**settings["bim"], "eps_iter": "eps / nb_iter"},
                        "mim": {**settings["mim"], "eps_iter": "eps / nb_iter"},
                        "pgd": {**settings["pgd"], "eps_iter": "2.5 eps / nb_iter", "rand_init": True},
                        "strong_linf_0.1": {**settings["strong"], "eps": 0.1,
                                            "losses": ["cross-entropy", "margin"]},
                        "strong_linf_0.3": {**settings["strong"], "eps": 0.3,
                                            "losses": ["cross-entropy", "margin"]}},
            "curves": {"pgd_nb_iter": 20, "n": int(n_exp)},
            "models": {"ORIG": args.orig, "PROP": args.prop},
            "command": f"keras-rbf reproduce {dataset} " + " ".join(argv or []),
        },
        "models": results,
        "checklist": [],
        "curves": curves,
        "transfer": transfer,
        "clustering": clustering,
        "input_gradient_l1_median": {n: float(np.median(g)) for n, g in grad_norms.items()},
        "rbf_layers": {n: [l.name for l in rbf_layers(m)] for n, m in models.items()},
    }
    if set(TABLE1_KEYS[1:]) <= set(args.attacks):
        subset_pgd = {n: attacks.accuracy(m, advs[(n, "pgd")][:n_exp], y[:n_exp])
                      for n, m in models.items()}
        report["pgd_on_expensive_subset"] = subset_pgd
        subset_strong = {n: attacks.accuracy(m, advs[(n, "strong_linf_0.3")][:n_spsa], y[:n_spsa])
                         for n, m in models.items()}
        report["strong_linf_0.3_on_spsa_subset"] = subset_strong
        report["checklist"] = _checklist(results, curves, transfer, subset_pgd, subset_strong)
    files = _plots(out, curves, grad_norms, feats, y[:n_emb], psi_history)
    report["seconds"] = time.time() - start
    report["claims"] = _claims(report) if report["checklist"] else []
    table1 = {k: report[k] for k in ("n_test", "settings", "models")}
    analysis = {k: v for k, v in report.items() if k not in table1}
    (out / "table1.json").write_text(json.dumps(table1, indent=2) + "\n")
    (out / "analysis.json").write_text(json.dumps(analysis, indent=2) + "\n")
    (out / "table1.md").write_text(_markdown(report, files))
    if args.update_cards:
        print("updated cards:", ", ".join(record_in_cards(out / "table1.json")))
    print(f"wrote {out / 'table1.json'}, analysis.json, table1.md and {len(files)} figures "
          f"in {report['seconds']:.0f} s")
    return 0
