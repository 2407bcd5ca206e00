"""`keras-rbf audit`: the strong suite and the gradient-masking checklist on any Keras model.

    keras-rbf audit MODEL.keras --data mnist|fashion_mnist|FILE.npz --eps 0.1 0.3 \\
        --out-dir DIR [--n-test N] [--suite cpu|standard]

Attacks the model on the test split of `keras_rbf.datasets.load(name)` (or on an `.npz`
with `x`, `(N, H, W, C)` in [0, 1], and `y`, `(N,)` integer labels) with the strong suite
(AutoAttack's recipe: APGD-CE, APGD-DLR, Square; per-example worst case) at each eps, runs
the checks of Athalye et al. (2018) that need no second model, and writes
`DIR/audit.json` (shaped like `table1.json`, with the suite's keys only),
`DIR/analysis.json` (the checklist), `DIR/audit.md` and `DIR/audit_eps.png`.

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
from keras_rbf.evaluate import accuracy, correct, load_test_split, logits, sample_indices
from keras_rbf.reports import masking
from keras_rbf.reports.results import Key, Result, strong_key, table_blocks

__all__ = ["AuditError", "audit", "main", "masking_checks"]

LARGE_EPS = 0.5  # the L-inf ball of radius 0.5 around any [0, 1] image holds the gray image


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


def audit(
    model_path: str,
    data: str,
    eps: list[float],
    out_dir: str,
    n: int | None = None,
    suite: str = "cpu",
    seed: int = 0,
    command: str = "",
) -> dict:
    """Runs the audit and writes `out_dir`; returns the content of `audit.json`."""
    # Why this function is long: the audit's steps in the order a user reads them in audit.md;
    # each is one call
    from keras_rbf import attacks

    start = time.perf_counter()
    x, y, indices = load_data(data, n)
    model = load_model(model_path)
    classes = check_classifier(model, x, y)
    fn, note = attacks.as_logits(model, x[:64])
    name = Path(model_path).stem
    print(
        f"auditing {name} ({classes} classes) on {len(x)} images of {data}"
        + (f"; {note}" if note else ""),
        flush=True,
    )
    ok = {Key("clean"): correct(fn, x, y)}
    suites, components, settings = {}, {}, {}
    for e in eps:
        key = strong_key(e)
        strong = attacks.StrongSuite(fn, eps=e, suite=suite, seed=seed)
        suites[e] = strong.run(x, y)
        ok[key] = np.asarray(suites[e].robust, bool)
        components[key.name] = dict(suites[e].components)
        settings[key.name] = dict(getattr(strong, "settings", {"eps": e, "suite": suite}))
        print(
            f"  eps {e:g}: robust accuracy {ok[key].mean():.4f} ({components[key.name]})",
            flush=True,
        )
    rows = masking_checks(fn, x, y, suites, seed)
    blocks = table_blocks({name: [Result.of(k, v) for k, v in ok.items()]})
    result = {
        "n_test": len(x),
        "test_indices": indices.tolist(),
        "settings": {
            "model": str(model_path),
            "data": data,
            "suite": suite,
            "seed": seed,
            "eps": list(eps),
            "logits": note or "the model's outputs are used as logits",
            "attacks": settings,
            "command": command,
        },
        "models": blocks["models"],
        "strong_components": {name: components},
        "n": blocks["n"],
        "ci95": blocks["ci95"],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds = time.perf_counter() - start
    (out / "audit.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "analysis.json").write_text(
        json.dumps({"checklist": rows, "seconds": seconds}, indent=2) + "\n"
    )
    _plot(out, result, name)
    (out / "audit.md").write_text(_markdown(result, rows, name, seconds))
    print(f"wrote {out / 'audit.json'}, analysis.json, audit.md, audit_eps.png in {seconds:.0f} s")
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
        xlabel="L-inf eps",
        ylabel="robust accuracy",
        ylim=(-0.02, 1.02),
        title=f"{name}: strong suite ({result['settings']['suite']}), n = {result['n_test']}",
    )
    fig.tight_layout()
    fig.savefig(out / "audit_eps.png", dpi=110)
    plt.close(fig)


def _markdown(result: dict, rows: list[dict], name: str, seconds: float) -> str:
    s = result["settings"]
    lines = [
        f"# Robustness audit of {name}",
        "",
        (
            f"Model `{s['model']}`, data `{s['data']}`, {result['n_test']} test images, "
            f"strong suite `{s['suite']}` (seed {s['seed']}); {s['logits']}. "
            f"Produced by `{s['command']}` in {seconds:.0f} s."
        ),
        "",
        "| key | n | accuracy [95 % Wilson interval] | suite components (cumulative) |",
        "|---|---|---|---|",
    ]
    for key, value in result["models"][name].items():
        lo, hi = result["ci95"][name][key]
        comps = result["strong_components"][name].get(key, {})
        lines.append(
            f"| {key} | {result['n'][key]} | {value:.4f} [{lo:.3f}, {hi:.3f}] | "
            + (", ".join(f"{a} {v:.4f}" for a, v in comps.items()) or "-")
            + " |"
        )
    lines += [
        "",
        "## Gradient-masking checklist (Athalye et al. 2018)",
        "",
        *masking.markdown(rows),
    ]
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
        "--eps", type=float, nargs="+", default=[0.1, 0.3], help="L-inf radii (default 0.1 0.3)"
    )
    parser.add_argument("--out-dir", required=True, help="output folder")
    parser.add_argument(
        "--n-test",
        type=positive_int,
        default=None,
        help="images attacked: for a data set name the first N of the reports' fixed "
        "permutation of its test split (default 1,000), for an .npz its first N (default all)",
    )
    parser.add_argument("--suite", choices=["cpu", "standard"], default="cpu")
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
    if any(not 0 < e <= 1 for e in args.eps):
        raise AuditError(f"--eps values must lie in (0, 1] for images in [0, 1], got {args.eps}")
    audit(
        args.model,
        args.data,
        args.eps,
        args.out_dir,
        args.n_test,
        args.suite,
        args.seed,
        command="keras-rbf audit " + " ".join(argv),
    )
    return 0


if __name__ == "__main__":
    from keras_rbf.cli import main as cli_main

    sys.exit(cli_main(["audit", *sys.argv[1:]]))
