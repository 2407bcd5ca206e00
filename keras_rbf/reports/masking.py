"""The gradient-masking checklist (Athalye et al. 2018), shared by every report.

A defense that masks gradients looks robust to gradient attacks only; each check compares
two attacks on the same images and fails when the weaker one wins by more than `TOL`
(scores are accuracies or Dice: lower means a stronger attack). The classification report
(`classification_checklist`), the segmentation report (`segmentation_checklist`) and the
audit (`keras_rbf.audit.masking_checks`) build their rows from the checks here, and
`markdown` renders any of them. Everything here is pure: the callers measure.
"""

from __future__ import annotations

__all__ = [
    "NEAR_ZERO",
    "TOL",
    "as_strong",
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
