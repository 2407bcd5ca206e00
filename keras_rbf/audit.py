"""`keras-rbf audit`: AutoAttack and the gradient-masking checklist on any Keras model.

    keras-rbf audit MODEL.keras --data mnist|fashion_mnist|FILE.npz [--norm Linf|L2|L1]
        [--eps 0.1 0.3] [--suite cpu|standard|plus|rand] [--n-test N] [--out-dir audit]

Attacks the model on the test split of `keras_rbf.datasets.load(name)` (or on an `.npz`
with `x`, `(N, H, W, C)` in [0, 1], and `y`, `(N,)` integer labels) with the strong suite
(`keras_rbf.attacks.suite`: per-example worst case over AutoAttack's components) at each
eps of the threat model `--norm`, raises AutoAttack's flags (randomized or probability
outputs, zero gradients, Square beating the white-box attacks, components left out),
runs the checks of Athalye et al. (2018) that need no second model, and writes
`DIR/audit.json` (shaped like `table1.json`, with the suite's keys only, each naming its
norm and eps, and the seconds of every component), `DIR/analysis.json` (flags and
checklist), `DIR/audit.md` and `DIR/audit_eps.png`. An existing audit in DIR is kept
unless `--overwrite` is given.

A model whose outputs are probabilities (a softmax head) is attacked through their
logarithm, and the report says so. Bad input (a missing file, an unknown data set, images
outside [0, 1], labels that do not match, a model that is not a classifier) gets one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from keras_rbf.cli_args import ArgumentParser, positive_int
from keras_rbf.errors import UserError
from keras_rbf.evaluate import (
    accuracy,
    correct,
    load_test_split,
    logits,
    output_flags,
    sample_indices,
)
from keras_rbf.reports import masking
from keras_rbf.reports.results import Key, Result, strong_key, table_blocks

__all__ = [
    "DEFAULT_EPS",
    "AuditError",
    "audit",
    "autoattack_flags",
    "check_eps",
    "main",
    "masking_checks",
]

LARGE_EPS = 0.5  # the L-inf ball of radius 0.5 around any [0, 1] image holds the gray image
# Default radii per norm: MNIST's usual L-inf radii; L2 1.5 and L1 10 are common MNIST
# radii in the literature (an L2 ball of 1.5 holds a change of 0.3 on 25 pixels).
DEFAULT_EPS = {"Linf": [0.1, 0.3], "L2": [1.5], "L1": [10.0]}
RANDOMIZED_PASSES = 5  # AutoAttack's check_randomized


class AuditError(UserError):
    """The audit cannot run on what it was given; the message says what and how to fix it."""


# A named data set is audited on the same fixed sample the reports attack.
DEFAULT_N_TEST = 1000


def load_data(spec: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test images and labels from a data set name or an `.npz` file, checked.

    Args:
        spec: "mnist", "fashion_mnist" (any `keras_rbf.datasets` classification set) or a
            path to an `.npz` holding `x` `(N, H, W, C)` in [0, 1] and `y` `(N,)` integers.
        n: for a data set name, the first `n` images of the reports' fixed permutation of
            its test split (`evaluate.sample_indices`; default 1,000); for a file, its
            first `n` images (default all).

    Returns:
        `(x, y, indices)`: float32 `(N, H, W, C)`, int64 `(N,)` and the images' indices
        into the test split or file.

    Raises:
        AuditError: missing file, unknown data set, or data that is not as described.
    """
    from keras_rbf.attacks.base import AttackInputError, check_images

    if spec.endswith(".npz"):
        path = Path(spec)
        if not path.is_file():
            raise AuditError(f"data file {spec} does not exist")
        with np.load(path) as data:
            if "x" not in data or "y" not in data:
                raise AuditError(
                    f"{spec} must hold arrays 'x' (N, H, W, C) and 'y' (N,); "
                    f"it holds {sorted(data)}"
                )
            x, y = data["x"], data["y"]
    else:
        from keras_rbf.datasets import DatasetNotFoundError

        try:
            x, y = load_test_split(spec)
        except DatasetNotFoundError as err:
            raise AuditError(str(err).splitlines()[0]) from err
        except ValueError as err:
            raise AuditError(
                f"unknown data set {spec!r}: use mnist, fashion_mnist or an .npz "
                "file with 'x' and 'y'"
            ) from err
    x = np.asarray(x)
    if x.ndim != 4:
        raise AuditError(f"images must have shape (N, H, W, C), got {x.shape}")
    try:
        x, y = check_images(x, y)
    except AttackInputError as err:
        raise AuditError(str(err)) from err
    if spec.endswith(".npz"):
        indices = np.arange(len(x) if n is None else min(n, len(x)))
    else:
        indices = sample_indices(len(x), n or DEFAULT_N_TEST)
    return x[indices], y[indices], indices


def load_model(path: str):
    """A Keras model from a `.keras` file (`keras_rbf` imported so its layers load)."""
    import keras

    import keras_rbf  # noqa: F401 - registers RBFMapping for deserialization

    if not Path(path).is_file():
        raise AuditError(f"model file {path} does not exist")
    try:
        return keras.saving.load_model(path)
    except Exception as err:  # Keras raises many kinds for a file it cannot read
        raise AuditError(
            f"cannot load {path} as a Keras model: {str(err).splitlines()[0]}"
        ) from err


def check_classifier(model, x: np.ndarray, y: np.ndarray) -> int:
    """Number of classes of `model`, after checking it maps `x` to `(N, classes)` scores
    that cover the labels.

    Raises:
        AuditError: the model rejects the images or is not a classifier.
    """
    try:
        out = logits(model, x[:4])
    except Exception as err:  # wrong input shape and the like, in many error types
        raise AuditError(
            f"the model does not accept images of shape {x.shape[1:]}: {str(err).splitlines()[0]}"
        ) from err
    if out.ndim != 2 or out.shape[0] != len(x[:4]) or out.shape[1] < 2:
        raise AuditError(
            f"the model's output has shape {out.shape} for {len(x[:4])} images; "
            "a classifier must output (N, classes) scores"
        )
    if y.max() >= out.shape[1]:
        raise AuditError(
            f"labels go up to {y.max()} but the model has {out.shape[1]} "
            "classes; the labels do not match this model"
        )
    return int(out.shape[1])


def masking_checks(model, x, y, suites: dict, seed: int = 0, n_square: int = 200) -> list[dict]:
    """The gradient-masking checks of Athalye et al. (2018) that need no second model.

    Args:
        model: logits model or callable.
        x, y: the audited images and labels.
        suites: `{eps: SuiteResult}` of the strong suite on `(x, y)`.
        seed: seed of Square.
        n_square: images for Square alone (the first ones).

    Returns:
        Rows `{"check", "values", "pass"}`.
    """
    from keras_rbf import attacks

    rows = []
    standing = None
    for eps, res in sorted(suites.items()):
        grad = [k for k in res.components if k != "clean" and not k.startswith("square")]
        fgsm = accuracy(model, attacks.make("fgsm", model, eps=eps).generate(x, y), y)
        first = res.components[grad[0]] if grad else float(np.mean(res.robust))
        rows.append(
            masking.row(
                f"iterative ({grad[0] if grad else 'suite'}) at least as strong as "
                f"one-step (FGSM), eps {eps:g}",
                f"{first:.3f} vs FGSM {fgsm:.3f}",
                masking.as_strong(first, fgsm),
            )
        )
        m = min(n_square, len(x))
        square_adv = attacks.make("square", model, eps=eps, seed=seed).generate(x[:m], y[:m])
        square = accuracy(model, square_adv, y[:m])
        broken_by = res.broken_by if res.broken_by is not None else [""] * len(x)
        grad_robust = np.asarray(res.robust, bool)[:m] | np.array(
            [str(b).startswith("square") for b in broken_by[:m]]
        )
        rows.append(
            masking.row(
                f"gradient-free (Square alone) no stronger than the gradient "
                f"attacks (same {m} images), eps {eps:g}",
                f"Square {square:.3f} vs gradient attacks {grad_robust.mean():.3f}",
                masking.as_strong(grad_robust.mean(), square),
            )
        )
        standing = np.asarray(res.robust, bool)
    # An image broken at a smaller eps is broken at 0.5 too: attack only the others.
    still = standing.copy()
    idx = np.flatnonzero(still)
    if idx.size:
        adv = attacks.make("pgd", model, eps=LARGE_EPS).generate(x[idx], y[idx])
        still[idx] = correct(model, adv, y[idx])
    rows.append(masking.falls_to_zero(still.mean(), LARGE_EPS))
    return rows


def autoattack_flags(model, x: np.ndarray, suites: dict) -> list[dict]:
    """AutoAttack's checks on the audited model, as flags (`reports.masking`).

    Args:
        model: the model as loaded (its raw outputs are checked).
        x: the audited images (the first 250 are probed, AutoAttack's batch).
        suites: `{eps: SuiteResult}`.

    Returns:
        the flags raised, in AutoAttack's order.
    """
    flags = output_flags(model, x[:250], RANDOMIZED_PASSES)
    notes: list[str] = []
    for eps, res in sorted(suites.items()):
        flags += masking.suite_flags(res.components, [], f"eps {eps:g}", res.zero_gradients)
        notes += [n for n in res.notes if n not in notes]  # the same at every eps
    return flags + masking.note_flags(notes)


def check_eps(norm: str, eps: list[float], x: np.ndarray) -> None:
    """Raises AuditError unless every radius is valid for `norm` on images like `x`: an
    L-inf radius in (0, 1], an L2 one in (0, sqrt(d)], an L1 one in (0, d], d the pixels
    and channels of an image (larger balls hold every image in [0, 1])."""
    from keras_rbf.attacks.base import eps_bound

    d = int(np.prod(x.shape[1:]))
    top = eps_bound(norm, d)
    bad = [e for e in eps if not 0 < e <= top]
    if bad:
        raise AuditError(
            f"--eps {' '.join(f'{e:g}' for e in bad)} out of range: {norm} radii must lie in "
            f"(0, {top:g}] for images of {d} values in [0, 1]"
        )


def audit(
    model_path: str,
    data: str,
    eps: list[float] | None,
    out_dir: str,
    n: int | None = None,
    suite: str = "cpu",
    seed: int = 0,
    command: str = "",
    norm: str = "Linf",
) -> dict:
    """Runs the audit and writes `out_dir`; returns the content of `audit.json`.

    `eps` None takes `DEFAULT_EPS[norm]`.
    """
    # Why this function is long: the audit's steps in the order a user reads them in audit.md;
    # each is one call
    import keras

    from keras_rbf import attacks

    start = time.perf_counter()
    eps = list(eps or DEFAULT_EPS[norm])
    x, y, indices = load_data(data, n)
    check_eps(norm, eps, x)
    model = load_model(model_path)
    classes = check_classifier(model, x, y)
    fn, note = attacks.as_logits(model, x[:64])
    name = Path(model_path).stem
    print(
        f"auditing {name} ({classes} classes) on {len(x)} images of {data}, {norm} threat "
        f"model, suite {suite}" + (f"; {note}" if note else ""),
        flush=True,
    )
    ok = {Key("clean"): correct(fn, x, y)}
    suites, components, settings, seconds = {}, {}, {}, {}
    for e in eps:
        key = strong_key(e, norm)
        print(f"  eps {e:g}:", flush=True)
        strong = attacks.StrongSuite(fn, eps=e, norm=norm, suite=suite, seed=seed, progress=True)
        suites[e] = strong.run(x, y)
        ok[key] = np.asarray(suites[e].robust, bool)
        components[key.name] = dict(suites[e].components)
        seconds[key.name] = {k: round(v, 3) for k, v in suites[e].seconds.items()}
        settings[key.name] = strong.settings
        print(f"  eps {e:g}: robust accuracy {ok[key].mean():.4f}", flush=True)
    flags = autoattack_flags(model, x, suites)
    rows, backend = [], keras.backend.backend()
    # The checklist's FGSM and PGD (CleverHans) run where their classes say they do.
    checklist_runs = all(backend in attacks.ATTACKS[a].backends for a in ("fgsm", "pgd"))
    if norm == "Linf" and checklist_runs:
        rows = masking_checks(fn, x, y, suites, seed)
    elif norm == "Linf":
        flags.append(
            masking.flag(
                "checklist left out",
                f"the Athalye et al. checks run CleverHans' FGSM and PGD, TensorFlow only; "
                f"this audit ran on {backend!r}",
                "rerun under KERAS_BACKEND=tensorflow to have them",
            )
        )
    blocks = table_blocks({name: [Result.of(k, v) for k, v in ok.items()]})
    result = {
        "n_test": len(x),
        "test_indices": indices.tolist(),
        "settings": {
            "model": str(model_path),
            "data": data,
            "norm": norm,
            "suite": suite,
            "seed": seed,
            "eps": eps,
            "logits": note or "the model's outputs are used as logits",
            "attacks": settings,
            "command": command,
        },
        "models": blocks["models"],
        "strong_components": {name: components},
        "seconds": {name: seconds},
        "n": blocks["n"],
        "ci95": blocks["ci95"],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter() - start
    (out / "audit.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "analysis.json").write_text(
        json.dumps({"flags": flags, "checklist": rows, "seconds": total}, indent=2) + "\n"
    )
    _plot(out, result, name)
    (out / "audit.md").write_text(_markdown(result, flags, rows, name, total))
    for f in flags:
        print(f"  flag: {f['flag']}: {f['detail']}", flush=True)
    print(f"wrote {out / 'audit.json'}, analysis.json, audit.md, audit_eps.png in {total:.0f} s")
    return result


def _plot(out: Path, result: dict, name: str) -> None:
    from keras_rbf.reports.figures import pyplot

    plt = pyplot()
    keys = [k for k in result["models"][name] if k != "clean"]
    eps = [0.0] + result["settings"]["eps"]
    acc = [result["models"][name][k] for k in ["clean", *keys]]
    ci = np.array([result["ci95"][name][k] for k in ["clean", *keys]])
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.errorbar(
        eps,
        acc,
        yerr=[np.subtract(acc, ci[:, 0]), np.subtract(ci[:, 1], acc)],
        marker="o",
        capsize=3,
    )
    ax.set(
        xlabel=f"{result['settings']['norm']} eps",
        ylabel="robust accuracy",
        ylim=(-0.02, 1.02),
        title=f"{name}: strong suite ({result['settings']['suite']}), n = {result['n_test']}",
    )
    fig.tight_layout()
    fig.savefig(out / "audit_eps.png", dpi=110)
    plt.close(fig)


def _markdown(result: dict, flags: list[dict], rows: list[dict], name: str, seconds: float) -> str:
    s = result["settings"]
    lines = [
        f"# Robustness audit of {name}",
        "",
        *masking.flags_markdown(flags),
        "",
        (
            f"Model `{s['model']}`, data `{s['data']}`, {result['n_test']} test images, "
            f"{s['norm']} threat model, strong suite `{s['suite']}` (seed {s['seed']}); "
            f"{s['logits']}. Produced by `{s['command']}` in {seconds:.0f} s."
        ),
        "",
        "| key | n | accuracy [95 % Wilson interval] |",
        "|---|---|---|",
    ]
    for key, value in result["models"][name].items():
        lo, hi = result["ci95"][name][key]
        lines.append(f"| {key} | {result['n'][key]} | {value:.4f} [{lo:.3f}, {hi:.3f}] |")
    lines += [
        "",
        "## Robust accuracy after each component (cumulative, as AutoAttack prints it)",
        "",
        "| key | component | robust accuracy | seconds |",
        "|---|---|---|---|",
    ]
    for key, comps in result["strong_components"][name].items():
        secs = result["seconds"][name].get(key, {})
        for comp, value in comps.items():
            took = f"{secs[comp]:.1f}" if comp in secs else "-"
            lines.append(f"| {key} | {comp} | {value:.4f} | {took} |")
    lines += ["", "## Gradient-masking checklist (Athalye et al. 2018)", ""]
    lines += (
        masking.markdown(rows)
        if rows
        else ["Run for the L-inf threat model only (its checks compare L-inf attacks)."]
    )
    lines += [
        "",
        "![audit_eps.png](audit_eps.png)",
        "",
        f"Robust accuracy vs eps with 95 % intervals, n = {result['n_test']}.",
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="keras-rbf audit",
        description="Strong-suite robustness audit and gradient-masking checklist of any "
        "Keras classifier (a .keras file).",
    )
    parser.add_argument("model", help="a .keras model file (outputs logits or probabilities)")
    parser.add_argument(
        "--data",
        required=True,
        help="mnist, fashion_mnist, or an .npz with x (N, H, W, C) in [0, 1] "
        "and y (N,) integer labels",
    )
    parser.add_argument(
        "--norm",
        choices=list(DEFAULT_EPS),
        default="Linf",
        help="threat model (default Linf)",
    )
    parser.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=None,
        help="radii of the threat model (default: Linf 0.1 0.3, L2 1.5, L1 10)",
    )
    parser.add_argument("--out-dir", default="audit", help="output folder (default audit/)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an audit already in --out-dir"
    )
    parser.add_argument(
        "--n-test",
        type=positive_int,
        default=None,
        help="images attacked: for a data set name the first N of the reports' fixed "
        "permutation of its test split (default 1,000), for an .npz its first N (default all)",
    )
    parser.add_argument(
        "--suite",
        choices=["cpu", "standard", "plus", "rand"],
        default="cpu",
        help="cpu (fast: APGD-CE, APGD-DLR, Square 1,000 queries; default), standard "
        "(AutoAttack's: APGD-CE, APGD-T, FAB-T, Square 5,000), plus, or rand (EOT, for "
        "randomized models)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed of the attacks (default 0)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """`keras-rbf audit ...`: returns 0; bad input raises `AuditError`.

    `keras_rbf.cli.main` reports it (one line, exit status 2), as for every command.
    """
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.eps and any(not e > 0 for e in args.eps):
        raise AuditError(f"--eps values must be positive, got {args.eps}")
    if (Path(args.out_dir) / "audit.json").exists() and not args.overwrite:
        raise AuditError(
            f"{args.out_dir} already holds an audit; pass --overwrite to replace it or "
            "choose another --out-dir"
        )
    audit(
        args.model,
        args.data,
        args.eps,
        args.out_dir,
        args.n_test,
        args.suite,
        args.seed,
        command="keras-rbf audit " + " ".join(argv),
        norm=args.norm,
    )
    return 0


if __name__ == "__main__":
    from keras_rbf.cli import main as cli_main

    sys.exit(cli_main(["audit", *sys.argv[1:]]))
