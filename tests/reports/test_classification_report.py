"""`keras-rbf reproduce mnist` end to end on a few images: files, JSON shape, Markdown."""

import itertools
import json
import re

import pytest

from keras_rbf.cli import main
from keras_rbf.reports.classification import TABLE1_KEYS, results_for_zoo


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "mnist"
    assert main(["reproduce", "mnist", "--n-test", "24", "--n-spsa", "2", "--n-curves", "12",
                 "--n-embed", "24", "--out-dir", str(out)]) == 0
    return out


def test_files_and_exact_json_shape(report_dir):
    for name in ("table1.json", "analysis.json", "table1.md", "fig3_masking.png",
                 "fig4_embeddings.png", "fig6_psi.png"):
        assert (report_dir / name).is_file(), name
    table = json.loads((report_dir / "table1.json").read_text())
    assert set(table) == {"n_test", "settings", "models", "n", "ci95", "strong_components"}
    assert table["n_test"] == 24
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
    card = {"name": "rbf_x", "weights": {"0": {"file": "w.h5", "sha256": "ab"}}}
    (tmp_path / "rbf_x" / "card.json").write_text(json.dumps(card))
    assert report._psi_history("rbf_x") == {}  # no training history: no Fig. 6
    run = {"weights_sha256": "ab", "history": {"psi_change": {"r": [1.0]}}}
    (tmp_path / "rbf_x" / "results.json").write_text(json.dumps({"training": {"0": run}}))
    assert report._psi_history("rbf_x") == {"r": [1.0]}
