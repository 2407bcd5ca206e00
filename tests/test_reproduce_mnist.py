"""`keras-rbf reproduce mnist` end to end on a few images: files, JSON shape, Markdown."""

import json
import re

import pytest

from keras_rbf.cli import main
from keras_rbf.reports.classification import TABLE1_KEYS


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "mnist"
    assert main(["reproduce", "mnist", "--n-test", "24", "--n-expensive", "3", "--n-spsa", "2", "--out", str(out)]) == 0
    return out


def test_files_and_exact_json_shape(report_dir):
    for name in ("table1.json", "analysis.json", "table1.md", "fig3_masking.png",
                 "fig4_embeddings.png", "fig6_psi.png"):
        assert (report_dir / name).is_file(), name
    table = json.loads((report_dir / "table1.json").read_text())
    assert set(table) == {"n_test", "settings", "models"}
    assert table["n_test"] == 24
    assert set(table["models"]) == {"cnn_mnist", "cnn_rbf_mnist"}
    for scores in table["models"].values():
        assert list(scores) == TABLE1_KEYS
        assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_markdown_numbers_come_from_the_json(report_dir):
    table = json.loads((report_dir / "table1.json").read_text())
    analysis = json.loads((report_dir / "analysis.json").read_text())
    md = (report_dir / "table1.md").read_text()
    for key in TABLE1_KEYS:
        row = next(line for line in md.splitlines() if line.startswith(f"| {key} |"))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[2] == f"{table['models']['cnn_mnist'][key]:.4f}"
        assert cells[3] == f"{table['models']['cnn_rbf_mnist'][key]:.4f}"
    assert len(analysis["checklist"]) == 9
    for row in analysis["checklist"]:
        assert row["values"] in md
    for name, scores in analysis["clustering"].items():
        assert re.search(rf"\| {name} \| {scores['silhouette']:.4f} \|", md)
    assert "## What this run supports" in md


def test_record_in_cards_copies_the_rows(report_dir, tmp_path, monkeypatch):
    import shutil

    from keras_rbf import zoo
    from keras_rbf.reports.classification import record_in_cards

    for name in ("cnn_mnist", "cnn_rbf_mnist"):
        shutil.copytree(zoo.zoo_dir() / name, tmp_path / name)
    monkeypatch.setattr(zoo, "zoo_dir", lambda: tmp_path)
    assert sorted(record_in_cards(report_dir / "table1.json")) == ["cnn_mnist", "cnn_rbf_mnist"]
    table = json.loads((report_dir / "table1.json").read_text())
    for name in ("cnn_mnist", "cnn_rbf_mnist"):
        rob = zoo.card(name)["robustness"]
        assert rob["accuracy"] == table["models"][name] and rob["n_test"] == 24
