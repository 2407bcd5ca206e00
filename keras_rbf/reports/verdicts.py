"""What a classification report's numbers support: its verdicts, as pure functions.

- `autoattack_agreement`: does PROP's strong-suite accuracy at eps 0.3 agree with the
  published AutoAttack result on this paper's model?
- `claims`: the sentences of the report's "What this run supports" section.

(The positive controls' verdict is `zoo_records.advt_verdict`, the checklist's
`masking`.)
"""

from __future__ import annotations

from keras_rbf.reports import references
from keras_rbf.reports.masking import TOL
from keras_rbf.reports.results import BY_NAME, TABLE1_KEYS

__all__ = ["REPRODUCED_FRACTION", "autoattack_agreement", "autoattack_published", "claims"]

# The paper's robustness gains count as reproduced when PROP keeps this fraction of the
# paper's accuracy under its FGSM and PGD.
REPRODUCED_FRACTION = 0.8


def autoattack_published() -> dict:
    """The AutoAttack authors' MNIST result on this paper's model, with its source."""
    ref = references.load("autoattack_mnist")
    return {"source": ref.source, **ref.values}


def autoattack_agreement(table: dict, prop: str) -> dict:
    """Our PROP robust accuracy at eps 0.3 beside the published AutoAttack result.

    Args:
        table: `table1.json`'s content.
        prop: the PROP model's name.

    Returns:
        The published result with "ours", "ours_ci95" and "agrees": ours is consistent
        with ~0 robust accuracy (within TOL, or its interval reaches the published 0.00);
        "ours" and "agrees" are None where the strong suite did not run at 0.3.
    """
    published = autoattack_published()
    key = "strong_linf_0.3"
    ours = table["models"][prop].get(key)
    if ours is None:
        return {**published, "ours": None, "agrees": None}
    low, high = table["ci95"][prop][key]
    agrees = ours <= TOL or low <= published["autoattack"]
    return {**published, "ours": ours, "ours_ci95": [low, high], "agrees": bool(agrees)}


def _seed_spread(report: dict, orig: str, prop: str) -> list[str]:
    summary = (report.get("recorded") or {}).get("summary", {})
    so, sp = summary.get(orig, {}).get("clean"), summary.get(prop, {}).get("clean")
    if not (so and sp and so["seeds"] > 1 and sp["seeds"] > 1):
        return []
    return [
        f"Clean accuracy over seeds (recorded): ORIG {so['mean']:.4f} +- "
        f"{so['sd']:.4f} ({so['seeds']} seeds), PROP {sp['mean']:.4f} +- "
        f"{sp['sd']:.4f} ({sp['seeds']} seeds): PROP - ORIG = "
        f"{100 * (sp['mean'] - so['mean']):+.1f} pp."
    ]


def _paper_gains(p: dict, keys: list[str]) -> list[str]:
    if not {"pgd", "fgsm"} <= set(keys):
        return []
    paper = references.load("paper_table1").values["PROP"]
    ok = all(p[k] >= REPRODUCED_FRACTION * paper[k] for k in ("pgd", "fgsm"))
    return [
        "The paper's large robustness gains (e.g. PROP FGSM 0.86, PGD 0.82) are "
        + ("reproduced" if ok else "not reproduced")
        + " by this run; the strong suite's rows show what survives a stronger adversary."
    ]


def claims(report: dict) -> list[str]:
    """The claims this run supports, one sentence each.

    Args:
        report: the report (`classification.run`): uses "table1" (ORIG first, PROP
            second), "checklist", "dataset" and, if present, "recorded".

    Returns:
        Sentences: clean accuracy, where PROP beats ORIG by more than TOL, the strong
        suite, the seeds' spread, the checklist, and (MNIST) whether the paper's gains
        are reproduced.
    """
    t = report["table1"]
    orig, prop = (n for n in t["models"])
    o, p = t["models"][orig], t["models"][prop]
    fails = [r for r in report["checklist"] if not r["pass"]]
    drop = o["clean"] - p["clean"]
    out = [
        f"Clean accuracy: PROP {p['clean']:.4f} vs ORIG {o['clean']:.4f} "
        + ("(no drop)." if drop <= 0.005 else f"(a drop of {100 * drop:.1f} pp).")
    ]
    keys = [k for k in TABLE1_KEYS[1:] if k in p and k in o]
    better = [k for k in keys if p[k] > o[k] + TOL]
    worse = [k for k in keys if p[k] < o[k] - TOL]
    out.append(
        "PROP is more accurate than ORIG (by > 2 pp) under: "
        + (", ".join(better) or "none")
        + "; less accurate under: "
        + (", ".join(worse) or "none")
        + "."
    )
    strong = [BY_NAME[k] for k in keys if BY_NAME[k].attack == "strong"]
    if strong:
        out.append(
            "Strong suite: "
            + "; ".join(f"{k.eps:g}: ORIG {o[k.name]:.3f} / PROP {p[k.name]:.3f}" for k in strong)
            + "."
        )
    out += _seed_spread(report, orig, prop)
    out.append(
        "Gradient-masking checks: "
        + (
            "all pass."
            if not fails
            else "failing: " + "; ".join(f"{r['model']}: {r['check']}" for r in fails) + "."
        )
    )
    if report["dataset"] == "mnist":
        out += _paper_gains(p, keys)
    return out
