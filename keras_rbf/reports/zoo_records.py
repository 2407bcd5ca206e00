"""What the zoo's results files record about the classification models, and verdicts on it.

The report reads every seed's results and the adversarially trained (ADVT) positive
controls from the zoo (`recorded_results`), judges the controls (`advt_verdict`), and
`--record-in` writes a run's Table 1 back under the seed it measured (`record`).
Models are labelled `name` (seed 0, as `zoo.load(name)` gives it) or `name@seed`.
"""

from __future__ import annotations

from keras_rbf import zoo
from keras_rbf.reports.results import STRONG_KEYS

__all__ = [
    "CONTROL_TARGETS",
    "advt_verdict",
    "model_seed",
    "record",
    "recorded_results",
    "recorded_row",
    "results_for_zoo",
    "zoo_entries",
]

# Positive-control targets (issue 11): robust accuracy an adversarially trained ORIG must
# keep under the strong suite for the evaluation to count as able to find robustness.
CONTROL_TARGETS = {"mnist": ("strong_linf_0.3", 0.70), "fashion_mnist": ("strong_linf_0.1", 0.60)}


def model_seed(label: str) -> tuple[str, int]:
    """`("name", seed)` of a report's model label `name` (seed 0) or `name@seed`."""
    name, _, seed = label.partition("@")
    return name, int(seed or 0)


def results_for_zoo(table: dict) -> dict:
    """Each model's Table 1 results, as a block the zoo's results files can record.

    Args:
        table: the content of a `table1.json`.

    Returns:
        `{model: {"source", "command", "n_test", "n", "attack_settings", "accuracy",
        "ci95", "strong_components"}}`.
    """
    s = table["settings"]
    return {
        name: {
            "source": "keras-rbf reproduce (keras_rbf/reports/classification.py)",
            "command": s["command"].strip(),
            "n_test": table["n_test"],
            "n": table["n"],
            "attack_settings": s["attacks"],
            "accuracy": scores,
            "ci95": table["ci95"][name],
            "strong_components": table["strong_components"].get(name, {}),
        }
        for name, scores in table["models"].items()
    }


def zoo_entries(dataset: str, which: str, orig: str, prop: str) -> list[tuple[str, int]]:
    """`(name, seed)` of the zoo models `--seeds` or `--controls` evaluates.

    Args:
        dataset: the data set whose ADVT entries `--controls` evaluates.
        which: "seeds": ORIG and PROP with every published seed but 0 (seed 0 is Table
            1's); "controls": seed 0 of every ADVT entry of the data set that has
            published weights (the others are named and skipped).
        orig, prop: the report's models.

    Returns:
        The `(name, seed)` pairs.
    """
    if which == "seeds":
        return [(n, s) for n in (orig, prop) for s in zoo.seeds(n) if s != 0]
    names = zoo.find(dataset=dataset, family="cnn", role="ADVT")
    missing = [n for n in names if 0 not in zoo.seeds(n)]
    if missing:
        print(
            f"skipping {', '.join(missing)}: no published weights (train with `keras-rbf "
            f"train NAME`, publish with `keras-rbf zoo publish`)",
            flush=True,
        )
    return [(n, 0) for n in names if n not in missing]


def recorded_row(name: str, seed: int, block: dict) -> dict:
    """One row of the recorded-results table from a zoo results block.

    Returns:
        `{model, role, seed, rbf, n_test, command, date, clean: [acc, ci95],
        strong_linf_<eps>: [acc, ci95]}`.
    """
    acc, ci = block.get("accuracy", {}), block.get("ci95", {})
    info = zoo.card(name)
    return {
        "model": name,
        "role": info.get("role"),
        "seed": seed,
        "rbf": bool(info.get("builder_kwargs", {}).get("rbf")),
        "n_test": block.get("n_test"),
        "command": block.get("command"),
        "date": block.get("date"),
        **{k: [acc.get(k), ci.get(k)] for k in ("clean", *STRONG_KEYS)},
    }


def recorded_results(dataset: str, orig: str, prop: str, table: dict | None = None) -> dict:
    """What the zoo records for ORIG and PROP (every seed) and the ADVT controls.

    Args:
        dataset: the data set whose ADVT entries are listed.
        orig, prop: the zoo entries of this report.
        table: this run's Table 1 (`table1.json`'s content), if any. Its models (seed 0)
            replace what the zoo records for them, so the seed-0 rows and the mean +- sd
            never show an older measurement beside this run's.

    Returns:
        `{"rows": [recorded_row, ...], "summary": {model: {key: {"mean", "sd", "seeds"}}},
        "advt": the controls' verdict (see `advt_verdict`)}`; blocks measured on other
        weights are not returned (`zoo.results`); this run's rows have no date.
    """
    names = [orig, prop, *zoo.find(dataset=dataset, family="cnn", role="ADVT")]
    results = {name: zoo.results(name) for name in names}
    for label, block in (results_for_zoo(table) if table else {}).items():
        name, seed = model_seed(label)
        if name in results:
            results[name].setdefault("robustness", {})[str(seed)] = block
            results[name]["across_seeds"] = zoo.across_seeds(results[name])
    rows = [
        recorded_row(name, int(seed), block)
        for name in names
        for seed, block in sorted(results[name].get("robustness", {}).items())
    ]
    keys = ("clean", *STRONG_KEYS)
    summary = {
        name: {
            k: v
            for k, v in results[name].get("across_seeds", {}).get("robustness", {}).items()
            if k in keys
        }
        for name in names
    }
    return {"rows": rows, "summary": summary, "advt": advt_verdict(dataset, rows)}


def advt_verdict(dataset: str, rows: list[dict]) -> dict:
    """Do the positive controls pass, and does the RBF mapping add to adversarial training?

    Compares the ADVT entries without and with RBF blocks (seed 0) at the data set's
    control eps: "adds" or "removes" robustness when their 95 % intervals do not overlap,
    else "no difference detected" (with the n that bounds what could be seen).

    Args:
        dataset: sets the control's key and target (`CONTROL_TARGETS`).
        rows: `recorded_row`s; only ADVT rows of seed 0 count.

    Returns:
        `{"key", "target", "control_passes", "rbf_effect"}`, with "control" (the plain
        ADVT entry) and "difference" (RBF minus plain) where they could be judged.
    """
    key, target = CONTROL_TARGETS.get(dataset, ("strong_linf_0.3", None))
    advt = {r["model"]: r for r in rows if r["role"] == "ADVT" and r["seed"] == 0}
    plain = [r for r in advt.values() if not r["rbf"]]
    rbf = [r for r in advt.values() if r["rbf"]]
    out = {"key": key, "target": target, "control_passes": None, "rbf_effect": None}
    if plain and plain[0][key][0] is not None:
        out["control"] = plain[0]["model"]
        out["control_passes"] = bool(plain[0][key][0] >= target) if target else None
    if plain and rbf and plain[0][key][0] is not None and rbf[0][key][0] is not None:
        (a, (alo, ahi)), (b, (blo, bhi)) = plain[0][key], rbf[0][key]
        out["rbf_effect"] = (
            "adds robustness"
            if blo > ahi
            else "removes robustness"
            if bhi < alo
            else "no difference detected"
        )
        out["difference"] = b - a
    return out


def record(table: dict, zoo_dir: str) -> list[str]:
    """Records each model's results in `zoo_dir`'s results files, under its seed.

    Args:
        table: the content of a `table1.json` (or `seeds.json`, `controls.json`).
        zoo_dir: a source checkout's zoo folder.

    Returns:
        The paths written.
    """
    from keras_rbf.publish import record_results, stamp

    paths = []
    for label, block in results_for_zoo(table).items():
        name, seed = model_seed(label)
        sha = zoo.card(name)["weights"][str(seed)]["sha256"]  # what zoo.load verified
        block = {**block, **stamp(block.pop("command"), weights_sha256=sha)}
        paths.append(str(record_results(zoo_dir, name, seed, "robustness", block)))
    print("recorded results in", ", ".join(sorted(set(paths))))
    return paths
