"""`keras-rbf reproduce` for segmentation, end to end on tiny untrained models (smoke test).

Training within the run (ADVT fine-tuning, Table 6 models) is switched off here (epochs 0)
to stay within the test budget; `adversarial_fit` is tested on its own.
"""

import json

import numpy as np
import pytest

from keras_rbf import cli
from keras_rbf.datasets import DatasetNotFoundError, synthetic_lesions
from keras_rbf.reports import segmentation as report


def test_reproduce_pipeline_writes_tables_and_figures(tmp_path):
    x, y = synthetic_lesions.generate(8, size=16, seed=0)
    res = report.run(
        "synthlesion",
        out_dir=tmp_path,
        num_test=3,
        iterations=(1, 2),
        advt_train=4,
        advt_epochs=0,
        advt_iterations=1,
        ablation_train=4,
        ablation_epochs=0,
        weights=None,
        build_overrides={"input_shape": (16, 16, 3), "encoder_depth": 1, "encoder_filters": 2},
        data={"train": (x[:5], y[:5]), "test": (x[5:], y[5:])},
        num_figure=2,
        command="test",
        networks=("V-Net",),
        ablation=((False, False), (True, True)),
        ablation_source="train",
    )
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["synthetic"] is True
    assert set(saved["table4"]) == {"V-Net"}
    assert set(saved["table4"]["V-Net"]) == {"ORIG", "FSG", "FSM", "ADVT", "PROP"}
    cell = saved["table4"]["V-Net"]["PROP"]
    assert {"clean", "1i", "2i"} <= set(cell) and cell["clean"]["dice"]["n"] == 3
    drop = (
        100
        * (cell["clean"]["dice"]["mean"] - cell["2i"]["dice"]["mean"])
        / max(cell["clean"]["dice"]["mean"], 1e-12)
    )
    assert np.isclose(cell["2i"]["drop_percent"], drop)
    assert set(saved["table5"]["2i"]) == {"V-Net", "V-PROP"}
    # The diagonal of Table 5 is the white-box result of Table 4.
    assert (
        saved["table5"]["2i"]["V-Net"]["V-Net"]["dice"]
        == saved["table4"]["V-Net"]["ORIG"]["2i"]["dice"]
    )
    assert len(saved["table6"]) == 2
    assert all(v["source"].startswith("trained in this run") for v in saved["table6"].values())
    assert all(v["rbf_live_fraction_test"] for v in saved["table6"].values())
    assert saved["gradient_masking_checks"]
    md = (tmp_path / "README.md").read_text()
    assert "SYNTHETIC" in md and "Table 4" in md and "Table 5" in md and "Table 6" in md
    for fig in res["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000


def test_isic_reproduction_says_where_the_data_must_come_from(monkeypatch):
    monkeypatch.delenv("KERAS_RBF_ISIC2017_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError, match="KERAS_RBF_ISIC2017_DIR"):
        report.main("isic2017", [])


def test_cli_knows_segmentation_commands():
    assert (
        cli.REPRODUCERS["synthlesion"]
        == cli.REPRODUCERS["isic2017"]
        == "keras_rbf.reports.segmentation:main"
    )
    assert cli.TRAINERS["segmentation"] == "keras_rbf.recipes.segmentation:main"
