"""`keras-rbf reproduce mnist|fashion_mnist`: Table 1, Table 2, Fig. 3, 4, 6 of the paper.

Loads the ORIG and PROP CNNs of a data set from the zoo (found by their cards), attacks
both on the test split with the paper's settings and with the strong suite (AutoAttack's
recipe: APGD-CE, APGD-DLR, Square, per-example worst case), runs the gradient-masking
checklist (Athalye et al. 2018), scores the clustering of last-layer features and writes
`--out-dir` (default `reports/<dataset>`): `table1.json`, `table1.md` (every number in it
is read from the JSON, each with its n and 95 % Wilson interval), `analysis.json`
(checklist, curves, transfer, clustering, seconds per stage) and PNG figures.

This module measures: each table is one function below over `keras_rbf.evaluate`, and
`run` calls them in order. What it hands on lives beside it in `keras_rbf.reports`:
`results` (typed results, the JSON layout), `masking` (the checklist), `verdicts`,
`markdown`, `figures`, `features` (Table 2's clustering), `zoo_records` (what the zoo
records, `--record-in`) and `references` (published numbers, data beside the cards).
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np

from keras_rbf import attacks, zoo
from keras_rbf.cli_args import ArgumentParser, positive_int
from keras_rbf.errors import UserError
from keras_rbf.evaluate import (
    accuracy,
    correct,
    load_test_split,
    output_flags,
    rbf_branch_ablation,
    rbf_layers,
    sample_indices,
)
from keras_rbf.reports import markdown, masking, verdicts
from keras_rbf.reports.features import clustering_scores, layer_features
from keras_rbf.reports.figures import fig3, fig4, fig6
from keras_rbf.reports.results import (
    BY_NAME,
    PAPER,
    STRONG_KEYS,
    TABLE1,
    TABLE1_KEYS,
    Key,
    Result,
    table_blocks,
)
from keras_rbf.reports.zoo_records import (
    advt_verdict,
    model_seed,
    record,
    recorded_results,
    recorded_row,
    results_for_zoo,
    zoo_entries,
)

__all__ = [
    "TABLE1_KEYS",
    "ReportError",
    "advt_verdict",
    "checklist",
    "clustering_table",
    "main",
    "record",
    "results_for_zoo",
    "run",
    "table1",
    "zoo_entries",
]

CURVE_PGD_EPS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
CURVE_GN_EPS = [0.0, 5.0, 10.0, 20.0, 40.0, 80.0]
# The main job's budget (<= 5 min on 2 CPU cores) holds 1,000 attacked MNIST images.
DEFAULT_N_TEST = {"mnist": 1000}
BATCH = {"cw": 100, "spsa": 1}  # smaller batches where one batch is slow: progress stays live


class ReportError(UserError):
    """A report cannot run as asked (unknown models, no data); the message says why."""


class Stages:
    """Seconds per stage of a report, printed as each stage starts and ends."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        print(f"[{t0 - self._start:6.0f} s] {name} ...", flush=True)
        yield
        self.seconds[name] = round(time.perf_counter() - t0, 1)
        print(
            f"[{time.perf_counter() - self._start:6.0f} s] {name}: {self.seconds[name]:.0f} s",
            flush=True,
        )

    def total(self) -> float:
        return time.perf_counter() - self._start


def _pair(dataset: str) -> tuple[str, str]:
    """Names of the ORIG and PROP CNNs of `dataset`, from the zoo cards' roles."""
    names = []
    for role in ("ORIG", "PROP"):
        found = zoo.find(dataset=dataset, family="cnn", role=role)
        if len(found) != 1:
            raise ReportError(
                f"the zoo has {len(found)} cnn models with role {role} for "
                f"{dataset} ({found}); pass --orig and --prop"
            )
        names.append(found[0])
    return names[0], names[1]


def _psi_history(name: str) -> dict:
    """`{layer: [||Psi_t - Psi_{t-1}||_F per epoch]}` of zoo model `name`'s published
    training run (seed 0, from its results file), {} if unknown."""
    run = zoo.results(name).get("training", {}).get("0", {})
    return run.get("history", {}).get("psi_change", {})


def _load(stages: Stages, data_of: str, n_test: int | None, entries: dict) -> tuple:
    """The fixed evaluation sample of zoo model `data_of`'s test split, and the models.

    The sample is the first `n_test` images of one seeded permutation of the test split
    (`evaluate.sample_indices`), whatever `--seed` is: every report, seed, control and
    audit attacks the same images, and SPSA, Fig. 3 and Fig. 4 take prefixes of it.

    Returns:
        `(x, y, info, models, indices)`: float32 images, int64 labels, the card's data set
        entry, `{label: zoo.load(name, seed=seed)}` for `entries = {label: (name, seed)}`,
        and the sample's indices into the test split.
    """
    with stages("load models and data"):
        info = zoo.card(data_of)["dataset"]
        x, y = load_test_split(info["name"], **info.get("kwargs", {}))
        indices = sample_indices(len(x), n_test)
        x, y = np.asarray(x[indices], np.float32), np.asarray(y[indices], np.int64)
        models = {label: zoo.load(name, seed=seed) for label, (name, seed) in entries.items()}
    return x, y, info, models, indices


def _attack_standing(model, key: str, x, y, ok, **settings) -> tuple[np.ndarray, dict]:
    """Adversarial images of `key` for the images in `ok` (clean-correct or still standing);
    the others stay as they are, since they already count as errors."""
    attack = attacks.make(key, model, batch_size=BATCH.get(key, 250), progress=True, **settings)
    adv = x.copy()
    idx = np.flatnonzero(ok)
    if idx.size:
        adv[idx] = attack.generate(x[idx], y[idx])
    return adv, attack.settings


def _strong(model, x, y, eps: float, ok: dict, settings: dict, suite: str, seed: int) -> dict:
    """Strong suite at `eps` on the images that Table 1's L-inf attacks within `eps` (on all
    images) left standing: an image they broke is broken, whatever the suite would find,
    so the suite need not spend its budget there. The worst case is over both.

    Returns:
        `{"robust": (N,) bool, "components": {attack: cumulative accuracy over all N},
        "broken_by": (N,) names, "settings": the suite's settings, "flags": AutoAttack's
        flags of the suite run}`.
    """
    prior = [
        k
        for k in ("fgsm", "bim", "mim", "pgd")
        if k in ok and len(ok[k]) == len(x) and settings[k].get("eps", np.inf) <= eps + 1e-9
    ]
    robust = ok["clean"].copy()
    broken_by = np.where(robust, "", "clean").astype(object)
    components = {"clean": float(robust.mean())}
    for k in prior:
        broken_by[robust & ~ok[k]] = k
        robust &= ok[k]
    if prior:
        components["+".join(prior)] = float(robust.mean())
    strong = attacks.StrongSuite(model, eps=eps, suite=suite, seed=seed, progress=True)
    idx = np.flatnonzero(robust)
    flags = []
    print(
        f"  strong suite eps {eps} on the {idx.size} images that "
        f"{'+'.join(prior) or 'the clean pass'} left standing",
        flush=True,
    )
    if idx.size:
        res = strong.run(x[idx], y[idx])
        robust[idx] = np.asarray(res.robust, bool)
        if res.broken_by is not None:
            broken_by[idx] = np.asarray(res.broken_by, object)
        components.update(
            {c: float(v) * idx.size / len(x) for c, v in res.components.items() if c != "clean"}
        )
        flags = masking.suite_flags(res.components, res.notes, f"eps {eps:g}", res.zero_gradients)
    return {
        "flags": flags,
        "robust": robust,
        "components": components,
        "broken_by": broken_by,
        "settings": {
            **dict(getattr(strong, "settings", {"eps": eps, "suite": suite})),
            "after": prior,
        },
    }


def _attack_model(name, model, x, y, keys: list[Key], n_spsa: int, out: dict, run) -> dict:
    """Per-image correctness of `model` under each of `keys` (`{key name: (n,) bool}`).

    Fills `out`'s "settings", "adv" (PGD's images), "strong_components" and "broken_by";
    `run` holds the suite's version, seed and the report's timer.
    """
    ok = {"clean": correct(model, x, y)}
    out["adv"][name], out["broken_by"][name], out["strong_components"][name] = {}, {}, {}
    out["flags"][name] = output_flags(model, x[:250])
    for key in keys:
        k = key.name
        if key in PAPER:
            n = n_spsa if k == "spsa" else len(x)
            with run["stages"](f"{name}: {k} on {n} images"):
                adv, out["settings"][k] = _attack_standing(model, k, x[:n], y[:n], ok["clean"][:n])
                ok[k] = correct(model, adv, y[:n])
            if k == "pgd":
                out["adv"][name]["pgd"] = adv
        elif key.attack == "strong":
            with run["stages"](f"{name}: strong suite eps {key.eps}"):
                res = _strong(model, x, y, key.eps, ok, out["settings"], run["suite"], run["seed"])
            ok[k], out["settings"][k] = res["robust"], res["settings"]
            out["strong_components"][name][k] = res["components"]
            out["broken_by"][name][k] = res["broken_by"]
            out["flags"][name] += res["flags"]
        print(f"{name:24s} {k:16s} {np.mean(ok[k]):.4f} (n={len(ok[k])})", flush=True)
    return ok


def table1(
    models: dict,
    x: np.ndarray,
    y: np.ndarray,
    n_spsa: int,
    suite: str = "cpu",
    keys: list[str] = TABLE1_KEYS,
    seed: int = 0,
    stages: Stages | None = None,
) -> dict:
    """Table 1: accuracy of each model under each attack, with n and a 95 % interval.

    Args:
        models: `{name: logits model}`.
        x: `(N, H, W, C)` test images in [0, 1]; y: `(N,)` labels.
        n_spsa: SPSA attacks the first `n_spsa` images (it is the slowest per image).
        suite: the strong suite's version, "cpu" or "standard".
        keys: the Table 1 keys to compute ("clean" is always computed).
        seed: the strong suite's seed.
        stages: timer of the report.

    Returns:
        `{"models": {name: {key: acc}}, "n": {key: images}, "ci95": {name: {key: [lo, hi]}},
        "strong_components": {name: {key: components}}, "settings": {key: settings},
        "results": {name: [Result]}, "correct": {name: {key: (n,) bool}},
        "adv": {name: {"pgd": images}}, "broken_by": {name: {key: (n,)}},
        "flags": {name: AutoAttack's flags}}`; "correct", "adv" and "broken_by" are for the
        other tables.
    """
    run = {"stages": stages or Stages(), "suite": suite, "seed": seed}
    out = {
        "strong_components": {},
        "settings": {},
        "correct": {},
        "adv": {},
        "broken_by": {},
        "flags": {},
    }
    results = {}
    for name, model in models.items():
        ok = _attack_model(name, model, x, y, [BY_NAME[k] for k in keys], n_spsa, out, run)
        out["correct"][name] = ok
        results[name] = [Result.of(k, ok[k.name]) for k in TABLE1 if k.name in ok]
    return {**table_blocks(results), **out, "results": results}


def fig3_curves(models: dict, x, y, t1: dict, n: int, stages: Stages) -> dict:
    """Fig. 3a: accuracy vs eps under Table 1's PGD (eps 0.1 reused from Table 1) and under
    Gaussian noise on the first `n` images; Fig. 3b: input-gradient norms.

    An image broken at one eps counts as broken at every larger one and is not attacked
    again, so the PGD curve is a worst case over the eps values up to each point.

    Returns:
        `{model: {"pgd": [eps, acc], "gn": [eps, acc], "grad_l1": (n,)}}`.
    """
    curves = {}
    x, y = x[:n], y[:n]
    pgd_settings = t1["settings"].get("pgd", dict(attacks.PAPER_SETTINGS["pgd"]))
    for name, model in models.items():
        with stages(f"{name}: Fig. 3 curves on {n} images"):
            standing = t1["correct"][name]["clean"][:n].copy()
            pgd_acc = [float(standing.mean())]
            for eps in CURVE_PGD_EPS[1:]:
                if eps == pgd_settings.get("eps") and "pgd" in t1["correct"][name]:
                    standing &= t1["correct"][name]["pgd"][:n]
                else:
                    settings = {k: v for k, v in pgd_settings.items() if k != "eps_iter"}
                    adv, _ = _attack_standing(
                        model, "pgd", x, y, standing, **{**settings, "eps": eps}
                    )
                    standing &= correct(model, adv, y)
                pgd_acc.append(float(standing.mean()))
                print(f"  {name} PGD eps {eps}: {pgd_acc[-1]:.4f}", flush=True)
            gn_acc = [pgd_acc[0]] + [
                accuracy(model, attacks.make("gn", model, eps=e).generate(x, y), y)
                for e in CURVE_GN_EPS[1:]
            ]
            curves[name] = {
                "pgd": [CURVE_PGD_EPS, pgd_acc],
                "gn": [CURVE_GN_EPS, gn_acc],
                "grad_l1": input_gradient_norms(model, x, y),
            }
    return curves


def input_gradient_norms(model, x: np.ndarray, y: np.ndarray, batch_size: int = 250):
    """L1 norm of d(cross-entropy)/d(input) per example (Fig. 3b): `(N,)`."""
    import tensorflow as tf

    out = []
    for i in range(0, len(x), batch_size):
        xt = tf.constant(x[i : i + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y[i : i + batch_size], logits=model(xt, training=False)
            )
        out.append(np.abs(tape.gradient(loss, xt).numpy()).reshape(len(xt), -1).sum(-1))
    return np.concatenate(out)


def checklist(models: dict, y, t1: dict, curves: dict) -> tuple[list[dict], dict]:
    """Gradient-masking checks of Athalye et al. (2018) as pass/fail rows, each comparing
    two attacks on the same images (`masking.classification_checklist`).

    Measures what the checks need beyond Table 1 and Fig. 3: PROP's accuracy on the PGD
    images crafted on ORIG (transfer).

    Returns:
        `(rows, extra)`: rows `{"model", "check", "values", "pass"}`; `extra` holds the
        transfer accuracies the rows quote.
    """
    transfer = {}
    names = list(models)
    if len(names) == 2 and all("pgd" in t1["adv"][n] for n in names):
        orig, prop = names
        adv = t1["adv"][orig]["pgd"]
        transfer[prop] = {
            "white_box": t1["models"][prop]["pgd"],
            "transfer": accuracy(models[prop], adv, y[: len(adv)]),
        }
    return masking.classification_checklist(t1, curves, transfer), {"transfer": transfer}


def clustering_table(models: dict, x, y, seed: int, stages: Stages) -> dict:
    """Table 2 for each model on all test images: `{name: scores}`."""
    from threadpoolctl import threadpool_limits

    # One OpenMP thread for k-means, as for t-SNE in fig4: spinning threads stall on
    # shared cores.
    with stages(f"Table 2 clustering on {len(x)} images"), threadpool_limits(1):
        return {
            name: clustering_scores(layer_features(m, x, last_only=True)["logits input"], y, seed)
            for name, m in models.items()
        }


def _entries(dataset: str, which: str, args, orig: str, prop: str) -> list[tuple[str, int]]:
    """The `(name, seed)` pairs `--seeds` / `--controls` evaluates, `--entries` applied."""
    entries = zoo_entries(dataset, which, orig, prop)
    if args.entries:
        unknown = sorted(set(args.entries) - {n for n, _ in entries})
        if unknown:
            raise ReportError(
                f"--entries {' '.join(unknown)}: not among the models --{which} "
                f"evaluates ({', '.join(sorted({n for n, _ in entries}))})"
            )
        entries = [(n, s) for n, s in entries if n in args.entries]
    if not entries:
        raise ReportError(f"no zoo models to evaluate for --{which} on {dataset}")
    return entries


def run_zoo_entries(dataset: str, which: str, args: argparse.Namespace, command: str) -> dict:
    """`--seeds` / `--controls`: clean accuracy and the strong suite alone at each eps.

    Writes `args.out_dir/<which>.json` (the Table 1 layout, models named `name@seed`)
    and `<which>.md`. Returns the table.
    """
    stages = Stages()
    keras.utils.set_random_seed(args.seed)
    out = Path(args.out_dir)
    orig, prop = (args.orig, args.prop) if args.orig and args.prop else _pair(dataset)
    entries = _entries(dataset, which, args, orig, prop)
    labels = {f"{name}@{seed}": (name, seed) for name, seed in entries}
    x, y, info, models, indices = _load(stages, prop, args.n_test, labels)
    n = len(x)
    t = table1(models, x, y, 0, args.suite, ["clean", *STRONG_KEYS], args.seed, stages)
    settings = {
        "data": info.get("description", info["name"]),
        "suite": args.suite,
        "attacks": t["settings"],
        "models": list(labels),
        "command": command,
        "seconds": round(stages.total(), 1),
    }
    table = {**_table(t, n, settings), "test_indices": indices.tolist()}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{which}.json").write_text(json.dumps(table, indent=2) + "\n")
    rows = [
        recorded_row(
            *model_seed(label),
            {"accuracy": acc, "ci95": t["ci95"][label], "n_test": n, "command": command},
        )
        for label, acc in t["models"].items()
    ]
    title = [f"# {dataset}: {which} (strong suite alone, n = {n})", ""]
    title += [f"Produced by `{command}` in {stages.total():.0f} s.", ""]
    (out / f"{which}.md").write_text("\n".join(title + markdown.recorded_lines(rows)) + "\n")
    print(f"wrote {out / (which + '.json')} and {which}.md in {stages.total():.0f} s")
    return table


def _parser(dataset: str) -> argparse.ArgumentParser:
    # Why this function is long: argument definitions, one per flag
    expect = {
        "mnist": "minutes on 2 CPU cores (a fixed sample of 1,000 of the 10,000 test images; "
        "--n-test 10000 attacks all of them and takes about ten times as long)",
        "fashion_mnist": "several times as long as the MNIST job (all 10,000 test "
        "images); --n-test 1000 takes about as long as the MNIST job",
    }
    parser = ArgumentParser(
        prog=f"keras-rbf reproduce {dataset}",
        description=f"Table 1, Table 2, Fig. 3, 4, 6 for {dataset}. Expect "
        f"{expect.get(dataset, 'minutes to hours')}.",
    )
    parser.add_argument(
        "--n-test",
        type=positive_int,
        default=DEFAULT_N_TEST.get(dataset),
        help="size of the attacked sample: the first N of one fixed permutation of the test "
        "split, the same whatever --seed (default "
        f"{DEFAULT_N_TEST.get(dataset) or 'the whole test split'}); SPSA, Fig. 3 and Fig. 4 "
        "take prefixes of it",
    )
    parser.add_argument(
        "--n-spsa", type=positive_int, default=100, help="test images for SPSA (default 100)"
    )
    parser.add_argument(
        "--n-curves",
        type=positive_int,
        default=200,
        help="test images for the Fig. 3 curves (default 200)",
    )
    parser.add_argument(
        "--n-embed",
        type=positive_int,
        default=500,
        help="test images for Fig. 4's t-SNE (default 500)",
    )
    parser.add_argument("--attacks", nargs="+", default=TABLE1_KEYS[1:], choices=TABLE1_KEYS[1:])
    parser.add_argument(
        "--suite",
        choices=["cpu", "standard"],
        default="cpu",
        help="strong suite: cpu (default) or AutoAttack's standard (GPU)",
    )
    parser.add_argument("--orig", help="ORIG model (default: from the zoo cards)")
    parser.add_argument("--prop", help="PROP model (default: from the zoo cards)")
    parser.add_argument(
        "--out-dir", default=f"reports/{dataset}", help="output folder (default reports/<dataset>)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the attacks, k-means and t-SNE (default 0); the "
        "models are the zoo's seed-0 weights (--seeds: the others)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--seeds",
        action="store_const",
        const="seeds",
        dest="which",
        help="instead of Table 1: clean and strong-suite accuracy of ORIG and "
        "PROP for every published seed but 0",
    )
    which.add_argument(
        "--controls",
        action="store_const",
        const="controls",
        dest="which",
        help="instead of Table 1: clean and strong-suite accuracy of the "
        "adversarially trained (ADVT) entries, the positive controls",
    )
    parser.add_argument(
        "--entries",
        nargs="+",
        metavar="NAME",
        default=None,
        help="with --seeds or --controls: only these zoo entries",
    )
    parser.add_argument(
        "--record-in",
        metavar="ZOO_DIR",
        default=None,
        help="also record each model's results in ZOO_DIR/<name>/results.json "
        "(a source checkout's zoo/, never an installed package)",
    )
    return parser


def _table(t1: dict, n: int, settings: dict) -> dict:
    """`table1.json`'s content (also `seeds.json`, `controls.json`): the run's settings
    and Table 1's numbers."""
    blocks = {k: t1[k] for k in ("models", "n", "ci95", "strong_components")}
    return {"n_test": n, "settings": settings, **blocks}


def _analysis(dataset: str, table: dict, roles: dict, measured: dict) -> dict:
    """The report (`analysis.json` plus `table1` and `roles`), verdicts included."""
    curves, prop = measured.pop("curves"), next(n for n, r in roles.items() if r == "PROP")
    aa = verdicts.autoattack_agreement(table, prop) if dataset == "mnist" else None
    report = {
        "dataset": dataset,
        "table1": table,
        "roles": roles,
        **measured,
        "curves": {m: {k: v for k, v in c.items() if k != "grad_l1"} for m, c in curves.items()},
        "input_gradient_l1_median": {m: float(np.median(c["grad_l1"])) for m, c in curves.items()},
        "autoattack_published": aa
        or {**verdicts.autoattack_published(), "ours": None, "agrees": None},
    }
    orig = next(n for n, r in roles.items() if r == "ORIG")
    report["recorded"] = recorded_results(dataset, orig, prop, table)
    report["claims"] = verdicts.claims(report)
    return report


def run(dataset: str, args: argparse.Namespace, command: str) -> dict:
    """The whole report: tables, checks, figures; writes `args.out_dir`. Returns the report."""
    stages = Stages()
    keras.utils.set_random_seed(args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    orig, prop = (args.orig, args.prop) if args.orig and args.prop else _pair(dataset)
    x, y, info, models, indices = _load(
        stages, prop, args.n_test, {orig: (orig, 0), prop: (prop, 0)}
    )
    n = len(x)
    n_spsa, n_curves, n_embed = (min(v, n) for v in (args.n_spsa, args.n_curves, args.n_embed))
    t1 = table1(models, x, y, n_spsa, args.suite, ["clean", *args.attacks], args.seed, stages)
    curves = fig3_curves(models, x, y, t1, n_curves, stages)
    rows, extra = checklist(models, y, t1, curves)
    clustering = clustering_table(models, x, y, args.seed, stages)
    with stages("RBF branch ablation"):
        branches = {
            name: rbf_branch_ablation(m, x, y) for name, m in models.items() if rbf_layers(m)
        }
    files = [
        fig3(out, curves, n_curves, t1["settings"].get("pgd", {})),
        fig4(out, models, x[:n_embed], y[:n_embed], args.seed, stages),
    ]
    files += [f for f in [fig6(out, prop, _psi_history(prop))] if f]
    table = _table(
        t1,
        n,
        {
            "data": info.get("description", info["name"]),
            "n_spsa": n_spsa,
            "n_curves": n_curves,
            "n_embed": n_embed,
            "suite": args.suite,
            "attacks": t1["settings"],
            "models": {"ORIG": orig, "PROP": prop},
            "command": command,
        },
    )
    table["test_indices"] = indices.tolist()  # into the test split, in attack order
    measured = {
        "flags": t1["flags"],
        "checklist": rows,
        **extra,
        "clustering": clustering,
        "rbf_branch_ablation": branches,
        "curves": curves,
    }
    report = _analysis(dataset, table, {orig: "ORIG", prop: "PROP"}, measured)
    report["stages"], report["seconds"] = stages.seconds, stages.total()
    analysis = {k: v for k, v in report.items() if k not in ("table1", "roles")}
    (out / "table1.json").write_text(json.dumps(table, indent=2) + "\n")
    (out / "analysis.json").write_text(json.dumps(analysis, indent=2) + "\n")
    (out / "table1.md").write_text(markdown.report(report, files))
    print(
        f"wrote {out / 'table1.json'}, analysis.json, table1.md and {len(files)} figures "
        f"in {report['seconds']:.0f} s"
    )
    return report


def main(dataset: str, argv: list[str] | None = None) -> int:
    """`keras-rbf reproduce DATASET [options]`; returns the exit status."""
    parser = _parser(dataset)
    args = parser.parse_args(argv)
    if args.entries and not args.which:
        parser.error("--entries needs --seeds or --controls")
    if args.record_in:
        from keras_rbf.publish import source_zoo_dir

        source_zoo_dir(args.record_in)  # refuse a bad folder before minutes of attacks
    command = (f"keras-rbf reproduce {dataset} " + " ".join(argv or [])).strip()
    if args.which:
        table = run_zoo_entries(dataset, args.which, args, command)
    else:
        table = run(dataset, args, command)["table1"]
    if args.record_in:
        record(table, args.record_in)
    return 0
