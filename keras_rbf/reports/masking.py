"""The gradient-masking checklist (Athalye et al. 2018), shared by every report.

A defense that masks gradients looks robust to gradient attacks only; each check compares
two attacks on the same images and fails when the weaker one wins by more than `TOL`
(scores are accuracies or Dice: lower means a stronger attack). The classification report
(`classification_checklist`), the segmentation report (`segmentation_checklist`) and the
audit (`keras_rbf.audit.masking_checks`) build their rows from the checks here, and
`markdown` renders any of them.

Beside the checklist stand AutoAttack's own checks (`autoattack/checks.py`), as flags:
randomized outputs, probability outputs, zero gradients (here at every iterate of every
gradient attack, where AutoAttack looks at APGD's first only), Square beating the
white-box attacks, and components left out or cut for too few classes or a missing
norm (AutoAttack warns in a log that is easy to miss). A flag never stops a run; the
Markdown lists the flags first (`flags_markdown`). Everything here is pure: the callers
measure.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "NEAR_ZERO",
    "RANDOMIZED_TOL",
    "SQUARE_TOL",
    "TOL",
    "as_strong",
    "flag",
    "flags_markdown",
    "note_flags",
    "probability_flag",
    "randomized_flag",
    "square_flag",
    "suite_flags",
    "zero_gradient_flag",
    "classification_checklist",
    "falls_to_zero",
    "markdown",
    "row",
    "segmentation_checklist",
]

# Two scores within 2 pp count as equal: below the noise of a few hundred images
# (the Wilson interval of 0.5 at n = 1,000 is +- 3 pp).
TOL = 0.02
NEAR_ZERO = 0.05  # "accuracy falls to ~0" at a radius that holds the gray image
# AutoAttack's thresholds (autoattack/checks.py): normalized outputs of two forward passes
# further apart than this mean a randomized model; Square lowering the white-box robust
# accuracy by more than this (0.2 pp) means the gradient attacks missed something.
RANDOMIZED_TOL = 1e-4
SQUARE_TOL = 0.002
_PROB_TOL = 1e-5


def as_strong(stronger: float, weaker: float) -> bool:
    """Is the attack that should be stronger (lower score) at least as strong, within TOL?"""
    return stronger <= weaker + TOL


def row(check: str, values: str, passed: bool, model: str | None = None) -> dict:
    """One checklist row: `{"model"?, "check", "values", "pass"}`."""
    return {
        **({"model": model} if model else {}),
        "check": check,
        "values": values,
        "pass": bool(passed),
    }


def falls_to_zero(acc: float, eps: float, model: str | None = None) -> dict:
    """Accuracy under PGD at a large radius must fall to ~0 (else gradients are masked)."""
    return row(
        f"accuracy falls to ~0 as eps grows (PGD, eps {eps})",
        f"acc {acc:.3f} at eps {eps}",
        acc <= NEAR_ZERO,
        model,
    )


def _one_step(acc: dict, model: str) -> list[dict]:
    if not {"bim", "fgsm"} <= set(acc):
        return []
    return [
        row(
            "iterative (BIM) at least as strong as one-step (FGSM)",
            f"BIM {acc['bim']:.3f} vs FGSM {acc['fgsm']:.3f}",
            as_strong(acc["bim"], acc["fgsm"]),
            model,
        )
    ]


def _spsa(acc: dict, ok: dict, model: str) -> list[dict]:
    if not {"spsa", "strong_linf_0.3"} <= set(acc):
        return []
    m = len(ok["spsa"])
    strong = float(ok["strong_linf_0.3"][:m].mean())
    return [
        row(
            f"gradient-free (SPSA) no stronger than the strong suite (same {m} images)",
            f"SPSA {acc['spsa']:.3f} vs strong 0.3 {strong:.3f}",
            as_strong(strong, acc["spsa"]),
            model,
        )
    ]


def _square(components: dict, ok: dict, model: str) -> list[dict]:
    """The suite runs Square on the images its gradient attacks left standing: what Square
    breaks there, gradients missed (the masking signal), at no extra cost."""
    rows = []
    for key, comps in components.items():
        names = list(comps)
        if not names[-1].startswith("square") or len(names) < 3:
            continue  # the suite had no image left to attack with Square
        before, after = comps[names[-2]], comps[names[-1]]
        rows.append(
            row(
                "gradient-free (Square) breaks no more than 2 pp beyond the gradient attacks "
                f"({key}, n = {len(ok[key])})",
                f"{key}: {names[-2]} {before:.3f} -> square {after:.3f}",
                as_strong(before, after),
                model,
            )
        )
    return rows


def classification_checklist(t1: dict, curves: dict, transfer: dict) -> list[dict]:
    """The classification report's rows, from what it measured.

    Args:
        t1: Table 1 as `classification.table1` returns it (uses "models", "correct",
            "strong_components").
        curves: `{model: {"pgd": [eps list, accuracy list]}}` (Fig. 3a).
        transfer: `{model: {"white_box": acc, "transfer": acc}}` for PROP under PGD crafted
            on itself and on ORIG; empty when not measured.

    Returns:
        Rows `{"model", "check", "values", "pass"}`, model by model, transfer last.
    """
    rows = []
    for name, acc in t1["models"].items():
        ok = t1["correct"][name]
        rows += _one_step(acc, name)
        eps, curve = curves[name]["pgd"]
        rows.append(falls_to_zero(curve[-1], eps[-1], name))
        rows += _spsa(acc, ok, name)
        rows += _square(t1["strong_components"][name], ok, name)
    for name, t in transfer.items():
        white, other = t["white_box"], t["transfer"]
        rows.append(
            row(
                "white-box at least as strong as transfer from ORIG (PGD)",
                f"white-box {white:.3f} vs transfer {other:.3f}",
                as_strong(white, other),
                name,
            )
        )
    return rows


def _dice(cell: dict) -> float:
    return cell["dice"]["mean"]


def segmentation_checklist(table4: dict, table5: dict, iterations, label: dict) -> list[dict]:
    """The segmentation report's rows: more DAG iterations hurt at least as much as fewer,
    and the white-box attack at least as much as the best transfer attack (Dice).

    Args:
        table4: `{net: {method: {"<m>i": scores}}}` (white box).
        table5: `{"<m>i": {source: {target: scores}}}` (transfer).
        iterations: the DAG iteration counts reported.
        label: `{(net, method): Table 5 name}`.

    Returns:
        Rows `{"check", "values", "pass"}`.
    """
    lo, hi = f"{min(iterations)}i", f"{max(iterations)}i"
    rows = [
        row(
            f"{net} {method}: Dice after {hi} iterations <= after {lo} (within 2 pp)",
            f"{_dice(r[hi]):.4f} vs {_dice(r[lo]):.4f}",
            as_strong(_dice(r[hi]), _dice(r[lo])),
        )
        for net, methods in table4.items()
        for method, r in methods.items()
    ]
    matrix = table5[hi]
    names = {v: k for k, v in label.items()}
    for target in matrix:
        sources = [s for s in matrix if s != target]
        if not sources:
            continue
        net, method = names[target]
        white = _dice(table4[net][method][hi])
        black = min(_dice(matrix[s][target]) for s in sources)
        rows.append(
            row(
                f"{target}: white-box Dice <= best transfer attack (within 2 pp)",
                f"white-box {white:.4f} vs transfer {black:.4f}",
                as_strong(white, black),
            )
        )
    return rows


def markdown(rows: list[dict]) -> list[str]:
    """The rows as a Markdown table (with a model column when the rows name models)."""
    by_model = any("model" in r for r in rows)
    head = "| model | check | values | result |" if by_model else "| check | values | result |"
    lines = [head, "|---" * head.count(" | ") + "|---|"]
    for r in rows:
        cells = [r["model"]] if by_model else []
        cells += [r["check"], r["values"], "pass" if r["pass"] else "**FAIL**"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def flag(name: str, detail: str, reason: str) -> dict:
    """One flag: `{"flag", "detail" (what was seen), "reason" (why it matters)}`."""
    return {"flag": name, "detail": detail, "reason": reason}


def randomized_flag(outputs: list) -> dict | None:
    """AutoAttack's `check_randomized`: forward passes of the same images that differ.

    Args:
        outputs: `(N, classes)` outputs of repeated passes over the same images.

    Returns:
        a flag, or None when every pass gives the same predictions and rows within
        `RANDOMIZED_TOL` after L2 normalization.
    """
    rows = [np.asarray(o, np.float64) for o in outputs]
    unit = [r / (np.linalg.norm(r, axis=1, keepdims=True) + 1e-10) for r in rows]
    diff = max(
        (np.linalg.norm(a - b, axis=1).max() for i, a in enumerate(unit) for b in unit[i + 1 :]),
        default=0.0,
    )
    labels_differ = any((r.argmax(1) != rows[0].argmax(1)).any() for r in rows[1:])
    if diff <= RANDOMIZED_TOL and not labels_differ:
        return None
    return flag(
        "randomized outputs",
        f"{len(rows)} forward passes of the same {len(rows[0])} images differ by up to "
        f"{diff:.2g} (normalized L2)" + ("; predictions change" if labels_differ else ""),
        "a randomized model needs the gradient averaged over draws: run --suite rand (EOT)",
    )


def probability_flag(out) -> dict | None:
    """AutoAttack's `check_range_output`: outputs that look like probabilities."""
    out = np.asarray(out, np.float64)
    if not (
        out.max() < 1 + _PROB_TOL
        and out.min() > -_PROB_TOL
        and np.all(np.abs(out.sum(-1) - 1) < 1e-3)
    ):
        return None
    return flag(
        "probability outputs",
        "every output row lies in [0, 1] and sums to 1",
        "attacks need logits; the model was attacked through the log of its outputs, "
        "whose gradients vanish where softmax saturates in float32",
    )


def zero_gradient_flag(counts: dict) -> dict | None:
    """Zero gradients at any iterate of the gradient attacks.

    Args:
        counts: `{component: (images with an all-zero loss gradient at some iterate,
            images attacked)}`.

    Returns:
        a flag, or None when no image had a zero gradient.
    """
    hit = {k: v for k, v in counts.items() if v[0]}
    if not hit:
        return None
    return flag(
        "zero gradients",
        ", ".join(f"{k}: {z} of {n} images" for k, (z, n) in hit.items()),
        "a zero gradient gives a gradient attack no direction (saturated or masked "
        "outputs); robust accuracy from those attacks may be overestimated",
    )


def square_flag(components: dict) -> dict | None:
    """AutoAttack's `check_square_sr`: Square lowering the robust accuracy the white-box
    components left by more than `SQUARE_TOL`."""
    names = list(components)
    if len(names) < 3 or "square" not in names:
        return None
    before = min(v for k, v in components.items() if k not in ("square", "clean"))
    gain = before - components["square"] if names[-1] == "square" else 0.0
    if gain <= SQUARE_TOL:
        return None
    return flag(
        "Square beats the white-box attacks",
        f"Square lowered the robust accuracy from {before:.4f} to {components['square']:.4f}",
        "a gradient-free attack finding what gradients missed is a sign of gradient "
        "masking: run Square with more queries and restarts, or an adaptive attack",
    )


def note_flags(notes: list[str]) -> list[dict]:
    """The suite's notes on left-out or cut components as flags (AutoAttack only warns)."""
    return [
        flag(
            "component left out" if "left out" in n else "suite cut",
            n,
            "the suite is weaker than AutoAttack's for this model; read the robust accuracy "
            "as an upper bound",
        )
        for n in notes
        if "left out" in n or "target classes" in n
    ]


def suite_flags(
    components: dict, notes: list[str], where: str, zero_gradients: dict | None = None
) -> list[dict]:
    """The flags one suite run raises: Square beating the white-box components, zero
    gradients at any iterate (`{component: (images, attacked)}`), and its notes on
    components left out or cut; `where` ("eps 0.3") is added to each detail."""
    flags = [square_flag(components), zero_gradient_flag(zero_gradients or {})]
    flags = [f for f in flags if f] + note_flags(notes)
    return [{**f, "detail": f"{f['detail']} ({where})"} for f in flags]


def flags_markdown(flags: list[dict]) -> list[str]:
    """The flags as Markdown for the top of a report (a line saying none were raised
    when the list is empty)."""
    if not flags:
        return ["No flags: none of AutoAttack's checks fired."]
    return ["**Flags** (a flag never stops the run):", ""] + [
        f"- **{f['flag']}**: {f['detail']}. Why it matters: {f['reason']}." for f in flags
    ]
