"""`keras-rbf reproduce mnist` end to end on a few images: files, JSON shape, Markdown."""

import itertools
import json
import re

import numpy as np
import pytest

from keras_rbf.cli import main
from keras_rbf.reports.classification import TABLE1_KEYS, results_for_zoo


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "mnist"
    assert (
        main(
            [
                "reproduce",
                "mnist",
                "--n-test",
                "24",
                "--n-spsa",
                "2",
                "--n-curves",
                "12",
                "--n-embed",
                "24",
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_files_and_exact_json_shape(report_dir):
    for name in (
        "table1.json",
        "analysis.json",
        "table1.md",
        "fig3_masking.png",
        "fig4_embeddings.png",
        "fig6_psi.png",
    ):
        assert (report_dir / name).is_file(), name
    table = json.loads((report_dir / "table1.json").read_text())
    assert set(table) == {
        "n_test", "settings", "models", "n", "ci95", "strong_components", "test_indices"
    }  # fmt: skip
    assert table["n_test"] == 24
    from keras_rbf.evaluate import sample_indices

    assert table["test_indices"] == sample_indices(10_000, 24).tolist()  # the fixed sample
    assert set(table["models"]) == {"cnn_mnist", "cnn_rbf_mnist"}
    assert table["n"] == {**{k: 24 for k in TABLE1_KEYS}, "spsa": 2}
    for name, scores in table["models"].items():
        assert list(scores) == TABLE1_KEYS
        for key, value in scores.items():
            low, high = table["ci95"][name][key]
            assert 0.0 <= low <= value <= high <= 1.0
            assert high - low > 0.05  # 24 images cannot give a narrow interval
        comps = table["strong_components"][name]
        assert set(comps) == {"strong_linf_0.1", "strong_linf_0.3"}
        for key, c in comps.items():
            values = list(c.values())
            assert values[0] == scores["clean"]  # the suite starts from clean accuracy
            assert values[-1] == pytest.approx(scores[key])  # ends at the worst case
            assert all(a >= b for a, b in itertools.pairwise(values))  # cumulative
    analysis = json.loads((report_dir / "analysis.json").read_text())
    assert set(analysis["stages"]) and all(v >= 0 for v in analysis["stages"].values())
    pgd = analysis["curves"]["cnn_mnist"]["pgd"][1]
    assert all(a >= b for a, b in itertools.pairwise(pgd))  # broken images stay broken
    assert pgd[1] == table["models"]["cnn_mnist"]["pgd"] or table["n"]["pgd"] != 12


def test_markdown_numbers_come_from_the_json(report_dir):
    table = json.loads((report_dir / "table1.json").read_text())
    analysis = json.loads((report_dir / "analysis.json").read_text())
    md = (report_dir / "table1.md").read_text()
    for key in TABLE1_KEYS:
        row = next(line for line in md.splitlines() if line.startswith(f"| {key} |"))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[2] == str(table["n"][key])
        for col, name in ((3, "cnn_mnist"), (4, "cnn_rbf_mnist")):
            lo, hi = table["ci95"][name][key]
            assert cells[col] == f"{table['models'][name][key]:.4f} [{lo:.3f}, {hi:.3f}]"
    # 4 per model (+ Square's at each eps where the suite had images left) + 1 transfer
    assert 9 <= len(analysis["checklist"]) <= 11
    for row in analysis["checklist"]:
        assert row["values"] in md
    for name, scores in analysis["clustering"].items():
        assert re.search(rf"\| {name} \| {scores['silhouette']:.4f} \|", md)
    assert "## What this run supports" in md
    assert "Croce & Hein 2020" in md and "AutoAttack 0.00%" in md
    assert ("**agrees**" in md) == analysis["autoattack_published"]["agrees"]
    assert "## Seconds per stage" in md and "training history" in md
    # PROP's branches, each replaced by its mean: rows from analysis.json.
    branches = analysis["rbf_branch_ablation"]
    assert set(branches) == {"cnn_rbf_mnist"}
    res = branches["cnn_rbf_mnist"]
    assert res["clean"] == table["models"]["cnn_rbf_mnist"]["clean"]
    assert set(res) == {"clean", "block1_rbf", "block2_rbf", "block3_rbf"}
    for layer in ("block1_rbf", "block2_rbf", "block3_rbf"):
        assert f"| {layer} | {res['clean']:.4f} | {res[layer]['accuracy']:.4f} |" in md
    assert "## Recorded in the zoo" in md
    # AutoAttack's flags come before Table 1: the zoo's models output logits and are
    # deterministic, so neither output flag fires; any suite flag is rendered.
    assert set(analysis["flags"]) == {"cnn_mnist", "cnn_rbf_mnist"}
    names = [f["flag"] for fl in analysis["flags"].values() for f in fl]
    assert "probability outputs" not in names and "randomized outputs" not in names
    assert md.index("## Flags (AutoAttack's checks)") < md.index("| clean |")
    for name, flags in analysis["flags"].items():
        assert all(f"**{name}: {f['flag']}**" in md for f in flags)


def test_recorded_rows_show_this_runs_seed_0_not_an_older_record(report_dir):
    # This run measured seed 0 on 24 images; whatever the zoo records for seed 0 (or the
    # other seeds, where their strong suite was recorded), the seed-0 row and the mean
    # +- sd must be this run's, the other seeds' rows the zoo's.
    table = json.loads((report_dir / "table1.json").read_text())
    recorded = json.loads((report_dir / "analysis.json").read_text())["recorded"]
    md = (report_dir / "table1.md").read_text()
    for name in ("cnn_mnist", "cnn_rbf_mnist"):
        rows = {r["seed"]: r for r in recorded["rows"] if r["model"] == name}
        assert 0 in rows and set(rows) <= {0, 1, 2}
        assert rows[0]["n_test"] == 24 and rows[0]["date"] is None
        assert rows[0]["clean"] == [table["models"][name]["clean"], table["ci95"][name]["clean"]]
        assert all(rows[s]["n_test"] != 24 and rows[s]["date"] for s in set(rows) - {0})
        clean = [rows[s]["clean"][0] for s in sorted(rows)]
        if len(rows) > 1:
            assert recorded["summary"][name]["clean"]["mean"] == pytest.approx(np.mean(clean))
        assert re.search(rf"\| {name} \| \w+ \| 0 \| 24 \| .*\(this run\) \|", md)


def test_results_for_zoo_blocks(report_dir):
    table = json.loads((report_dir / "table1.json").read_text())
    blocks = results_for_zoo(table)
    assert set(blocks) == {"cnn_mnist", "cnn_rbf_mnist"}
    for name, block in blocks.items():
        assert block["accuracy"] == table["models"][name]
        assert block["ci95"] == table["ci95"][name] and block["n"]["spsa"] == 2
        assert "--out-dir" in block["command"]


def test_models_found_by_zoo_roles(monkeypatch, tmp_path):
    from keras_rbf import zoo
    from keras_rbf.reports import classification as report

    found = {"ORIG": ["plain_x"], "PROP": ["rbf_x", "rbf_y"]}
    calls = []

    def find(**criteria):
        calls.append(criteria)
        return found[criteria["role"]]

    monkeypatch.setattr(zoo, "find", find, raising=False)
    with pytest.raises(report.ReportError, match="role PROP"):
        report._pair("mnist")
    found["PROP"] = ["rbf_x"]
    assert report._pair("mnist") == ("plain_x", "rbf_x")
    assert calls[-1] == {"dataset": "mnist", "family": "cnn", "role": "PROP"}
    monkeypatch.setattr(zoo, "zoo_dir", lambda: tmp_path)
    (tmp_path / "rbf_x").mkdir()
    card = {
        "name": "rbf_x", "family": "cnn", "role": "PROP", "builder": "keras_rbf.models:build_cnn",
        "weights": {"0": {"file": "w.h5", "sha256": "ab"}},
    }  # fmt: skip
    (tmp_path / "rbf_x" / "card.json").write_text(json.dumps(card))
    assert report._psi_history("rbf_x") == {}  # no training history: no Fig. 6
    run = {"weights_sha256": "ab", "history": {"psi_change": {"r": [1.0]}}}
    (tmp_path / "rbf_x" / "results.json").write_text(json.dumps({"training": {"0": run}}))
    assert report._psi_history("rbf_x") == {"r": [1.0]}


def _row(model, role, acc, ci, seed=0):
    from keras_rbf import zoo

    rbf = zoo.card(model)["builder_kwargs"]["rbf"]  # what _recorded_row reads
    return {"model": model, "role": role, "seed": seed, "rbf": rbf, "strong_linf_0.3": [acc, ci]}


def test_advt_verdict_needs_disjoint_intervals_to_call_an_rbf_effect():
    from keras_rbf.reports.classification import advt_verdict

    rows = [
        _row("cnn_mnist_advt", "ADVT", 0.80, [0.77, 0.83]),
        _row("cnn_rbf_mnist_advt", "ADVT", 0.84, [0.81, 0.86]),
    ]
    v = advt_verdict("mnist", rows)
    assert v["control"] == "cnn_mnist_advt" and v["control_passes"] is True
    assert v["rbf_effect"] == "no difference detected"
    assert v["difference"] == pytest.approx(0.04)
    rows[1] = _row("cnn_rbf_mnist_advt", "ADVT", 0.90, [0.88, 0.92])
    assert advt_verdict("mnist", rows)["rbf_effect"] == "adds robustness"
    rows[1] = _row("cnn_rbf_mnist_advt", "ADVT", 0.10, [0.08, 0.12])
    assert advt_verdict("mnist", rows)["rbf_effect"] == "removes robustness"
    rows[0] = _row("cnn_mnist_advt", "ADVT", 0.65, [0.62, 0.68])
    assert advt_verdict("mnist", rows)["control_passes"] is False
    # Other seeds and other roles do not enter the verdict.
    assert advt_verdict("mnist", [_row("cnn_mnist", "ORIG", 0.0, [0, 0.004])])["rbf_effect"] is None


def test_controls_run_the_strong_suite_on_every_advt_entry(tmp_path):
    from keras_rbf import zoo
    from keras_rbf.reports.classification import zoo_entries

    out = tmp_path / "mnist"
    assert main(["reproduce", "mnist", "--controls", "--n-test", "8", "--out-dir", str(out)]) == 0
    table = json.loads((out / "controls.json").read_text())
    assert set(table["models"]) == {"cnn_mnist_advt@0", "cnn_rbf_mnist_advt@0"}
    for label, acc in table["models"].items():
        assert set(acc) == {"clean", "strong_linf_0.1", "strong_linf_0.3"}
        assert acc["strong_linf_0.3"] <= acc["strong_linf_0.1"] <= acc["clean"]
        assert table["ci95"][label]["clean"][0] <= acc["clean"] <= table["ci95"][label]["clean"][1]
    assert table["n"]["strong_linf_0.3"] == 8
    assert "| cnn_rbf_mnist_advt | ADVT | 0 | 8 |" in (out / "controls.md").read_text()
    # --seeds: every published seed but 0 (Table 1 measures seed 0).
    seeds = zoo_entries("mnist", "seeds", "cnn_mnist", "cnn_rbf_mnist")
    assert seeds == [(n, s) for n in ("cnn_mnist", "cnn_rbf_mnist") for s in zoo.seeds(n) if s]
    assert {s for _, s in seeds} == {1, 2}


def test_record_files_results_under_the_seed_they_were_measured_on(tmp_path):
    import shutil

    from keras_rbf import zoo
    from keras_rbf.reports.classification import record

    shutil.copytree(zoo.zoo_dir() / "cnn_mnist", tmp_path / "cnn_mnist")
    acc = {"clean": 0.9, "strong_linf_0.1": 0.5}
    table = {
        "n_test": 10,
        "n": {"clean": 10, "strong_linf_0.1": 10},
        "settings": {"command": "keras-rbf reproduce mnist --seeds", "attacks": {}},
        "models": {"cnn_mnist@1": acc},
        "ci95": {"cnn_mnist@1": {"clean": [0.6, 0.98]}},
        "strong_components": {},
    }
    record(table, str(tmp_path))
    results = json.loads((tmp_path / "cnn_mnist" / "results.json").read_text())
    block = results["robustness"]["1"]
    assert block["accuracy"] == acc and block["command"] == "keras-rbf reproduce mnist --seeds"
    assert block["weights_sha256"] == zoo.card("cnn_mnist")["weights"]["1"]["sha256"]
