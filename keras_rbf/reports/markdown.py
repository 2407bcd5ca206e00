"""Markdown of the classification report (`table1.md`) and of `--seeds` / `--controls`.

Every number is read from the report's JSON content; nothing is measured here.
"""

from __future__ import annotations

import json

from keras_rbf.reports import masking, references
from keras_rbf.reports.results import STRONG_KEYS, TABLE1_KEYS

__all__ = ["cell", "recorded_lines", "report"]


def cell(v: float | None, ci: list | None = None) -> str:
    """`0.1234 [0.100, 0.150]`, or `-` for a missing value."""
    if v is None:
        return "-"
    return f"{v:.4f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _table1(report: dict) -> list[str]:
    t, s = report["table1"], report["table1"]["settings"]
    names = list(t["models"])
    roles = report["roles"]
    paper = references.load("paper_table1").values
    lines = [
        "## Table 1: accuracy under attack (value [95 % Wilson interval])",
        "",
        "| attack | settings | n | "
        + " | ".join(f"{n} ({roles[n]})" for n in names)
        + " | paper ORIG | paper PROP |",
        "|---" * (len(names) + 5) + "|",
    ]
    for key in TABLE1_KEYS:
        if key not in t["n"]:
            continue
        setting = json.dumps(s["attacks"].get(key, {})) if key != "clean" else "{}"
        ours = " | ".join(cell(t["models"][n].get(key), t["ci95"][n].get(key)) for n in names)
        theirs = [
            paper[r].get(key) if report["dataset"] == "mnist" else None for r in ("ORIG", "PROP")
        ]
        lines.append(
            f"| {key} | `{setting}` | {t['n'][key]} | {ours} "
            f"| {cell(theirs[0])} | {cell(theirs[1])} |"
        )
    lines += [
        "",
        "Strong suite components (cumulative robust accuracy after each attack, "
        "each attack on the images still standing):",
        "",
    ]
    for name, comps in t["strong_components"].items():
        for key, c in comps.items():
            lines.append(f"- {name}, {key}: " + ", ".join(f"{a} {v:.4f}" for a, v in c.items()))
    return lines


def recorded_lines(rows: list[dict], summary: dict | None = None) -> list[str]:
    """The recorded-results table: one row per model and seed, then mean +- sd.

    Args:
        rows: `zoo_records.recorded_row`s.
        summary: `{model: {key: {"mean", "sd", "seeds"}}}` (models with > 1 seed shown).

    Returns:
        Markdown lines.
    """
    keys = ["clean", *STRONG_KEYS]
    lines = [
        "| model | role | seed | n | " + " | ".join(keys) + " | recorded by |",
        "|---" * (len(keys) + 5) + "|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['role']} | {r['seed']} | {r['n_test']} | "
            + " | ".join(cell(*r[k]) for k in keys)
            + f" | `{r['command']}` ({r['date'] or 'this run'}) |"
        )
    for name, per_key in (summary or {}).items():
        cells = [per_key.get(k) for k in keys]
        if not any(c and c["seeds"] > 1 for c in cells):
            continue
        lines.append(
            f"| {name} | mean +- sd | {cells[0]['seeds']} seeds | | "
            + " | ".join("-" if not c else f"{c['mean']:.4f} +- {c['sd'] or 0:.4f}" for c in cells)
            + " | |"
        )
    return lines


def _advt(v: dict) -> list[str]:
    lines = []
    if v.get("control_passes") is not None:
        lines += [
            "",
            f"Positive control: {v['control']} keeps "
            f"{'at least' if v['control_passes'] else 'less than'} "
            f"{v['target']:.2f} under {v['key']}: "
            + (
                "the suite finds robustness where adversarial training put it."
                if v["control_passes"]
                else "**the control is below its target**, so this evaluation has not "
                "shown that it would find robustness where it exists."
            ),
        ]
    if v.get("rbf_effect"):
        lines.append(
            f"RBF on top of adversarial training ({v['key']}): "
            f"{v['rbf_effect']} (difference {100 * v['difference']:+.1f} pp)."
        )
    return lines


def _recorded(report: dict) -> list[str]:
    rec = report.get("recorded") or {}
    lines = ["", "## Recorded in the zoo: every seed, and adversarially trained controls", ""]
    if not rec.get("rows"):
        return lines + [
            f"The zoo records no results on the published weights yet; "
            f"`keras-rbf reproduce {report['dataset']} --seeds --record-in zoo` "
            f"and `... --controls --record-in zoo` measure them."
        ]
    lines += [
        "Seed 0 of ORIG and PROP: this run's Table 1 rows (the strong suite after the "
        "paper's L-inf attacks). Every other row is read from the zoo's results files, "
        "not measured by this run (its command and date say what measured it): the "
        "strong suite alone on the images the model classifies correctly. Value [95 % "
        "Wilson interval]; mean +- sd over the seeds a model has.",
        "",
    ]
    return lines + recorded_lines(rec["rows"], rec["summary"]) + _advt(rec.get("advt", {}))


def _autoattack(report: dict) -> list[str]:
    aa, t = report["autoattack_published"], report["table1"]
    lines = [
        "",
        "## The published AutoAttack result for this paper",
        "",
        f"{aa['source']}: clean {aa['clean']:.2%}, claimed {aa['claimed']:.2%}, "
        f"AutoAttack {aa['autoattack']:.2%}.",
    ]
    if report["dataset"] != "mnist":
        lines.append(
            f"That number is for MNIST; this run is on {report['dataset']}, for which "
            "no AutoAttack result of this paper's model is published."
        )
    if aa["ours"] is not None:
        lo, hi = aa["ours_ci95"]
        lines.append(
            f"Ours (PROP, strong suite, eps 0.3): {aa['ours']:.2%} "
            f"[{lo:.2%}, {hi:.2%}], n = {t['n']['strong_linf_0.3']}: "
            + (
                "**agrees** with the published 0.00 %."
                if aa["agrees"]
                else "**does not agree** with the published 0.00 %."
            )
        )
    return lines


def _branches(report: dict) -> list[str]:
    """Does PROP use its RBF branches? Accuracy with each branch's output set to its mean."""
    lines = []
    for name, res in (report.get("rbf_branch_ablation") or {}).items():
        lines += [
            "",
            f"## Does {name} use its RBF branches? (n = {report['table1']['n_test']})",
            "",
            "Clean accuracy with one RBF layer's output replaced by its mean over "
            "the test images (`keras_rbf.evaluate.rbf_branch_ablation`); a drop "
            "means the model relies on what that branch computes.",
            "",
            "| branch | clean | with the branch at its mean | drop (pp) |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {layer} | {res['clean']:.4f} | {v['accuracy']:.4f} | {100 * v['drop']:.1f} |"
            for layer, v in res.items()
            if layer != "clean"
        ]
    return lines


def _table2(report: dict) -> list[str]:
    t = report["table1"]
    lines = [
        "",
        f"## Table 2: k-means on last-layer features (n = {t['n_test']})",
        "",
        "| model | silhouette | Calinski-Harabasz | adjusted MI | homogeneity | completeness |",
        "|---|---|---|---|---|---|",
    ]
    for n in t["models"]:
        c = report["clustering"][n]
        lines.append(
            f"| {n} | {c['silhouette']:.4f} | {c['calinski_harabasz']:.1f} | "
            f"{c['mutual_information']:.4f} | {c['homogeneity']:.4f} | "
            f"{c['completeness']:.4f} |"
        )
    if report["dataset"] == "mnist":
        p = references.load("paper_table2").values
        lines.append(
            f"| paper ORIG / PROP | {p['ORIG']['silhouette']} / "
            f"{p['PROP']['silhouette']} | {p['ORIG']['calinski_harabasz']} / "
            f"{p['PROP']['calinski_harabasz']} | - | - | - |"
        )
    return lines


def _figures(settings: dict, files: list[str]) -> list[str]:
    captions = {
        "fig3_masking.png": "Fig. 3: accuracy vs eps (PGD with Table 1's settings, Gaussian "
        f"noise) and input-gradient norms, n = {settings['n_curves']}.",
        "fig4_embeddings.png": "Fig. 4: t-SNE (after PCA to 50 components) of each distinct "
        f"layer's features, n = {settings['n_embed']}, colours = classes.",
        "fig6_psi.png": "Fig. 6: the training history of PROP: change of Psi per epoch "
        "(read from its training record, not measured here).",
    }
    lines = ["", "## Figures", ""]
    for f in files:
        lines += [f"![{f}]({f})", "", captions.get(f, f), ""]
    return lines


def _flags(report: dict) -> list[str]:
    """AutoAttack's checks, model by model, before any number (a flag never stops a run)."""
    flags = [
        {**f, "flag": f"{name}: {f['flag']}"}
        for name, model_flags in report.get("flags", {}).items()
        for f in model_flags
    ]
    return ["## Flags (AutoAttack's checks)", "", *masking.flags_markdown(flags), ""]


def report(report: dict, files: list[str]) -> str:
    """`table1.md` of a classification report.

    Args:
        report: the report `classification.run` builds.
        files: the figures written, in order.

    Returns:
        The Markdown text.
    """
    t = report["table1"]
    s = t["settings"]
    lines = [
        f"# {report['dataset']}: ORIG vs PROP under attack",
        "",
        f"Test images: a fixed sample of {t['n_test']} ({s['data']}): the first "
        f"{t['n_test']} of one permutation of the test split, seeded 0 whatever the run's "
        "--seed, so every report, seed and control attacks the same images (their indices "
        "are `test_indices` in table1.json); "
        f"SPSA on the first {s['n_spsa']} of them, "
        f"Fig. 3 curves on the first {s['n_curves']}, Fig. 4 on the first "
        f"{s['n_embed']}. Attacks run on the images the model classifies correctly "
        "(the others already count as errors); the strong suite at each eps runs on the "
        "images that Table 1's L-inf attacks within that eps left standing, so its row "
        "is the worst case over both. "
        f"Produced by `{s['command']}` in {report['seconds']:.0f} s.",
        "",
    ]
    lines += _flags(report) + _table1(report) + _recorded(report) + _autoattack(report)
    lines += ["", "## Gradient-masking checklist (Athalye et al. 2018)", ""]
    lines += masking.markdown(report["checklist"])
    lines += _branches(report) + _table2(report) + _figures(s, files)
    lines += ["## Seconds per stage", "", "| stage | s |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in report["stages"].items()]
    lines += ["", "## What this run supports", ""] + [f"- {c}" for c in report["claims"]]
    return "\n".join(lines) + "\n"
