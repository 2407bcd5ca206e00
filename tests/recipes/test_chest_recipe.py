"""CHEST recipe and zoo entries.

The builder's own tests are in tests/models/test_inception_resnet_v2.py.
"""

import pytest

from keras_rbf.recipes.chest import paper_optimizer


def test_paper_optimizer_schedule():
    opt = paper_optimizer(steps_per_epoch=10)
    lr = opt.learning_rate
    schedule = opt._learning_rate
    assert float(schedule(0)) == pytest.approx(0.045)
    assert float(schedule(19)) == pytest.approx(0.045)  # staircase: constant for 2 epochs
    assert float(schedule(20)) == pytest.approx(0.045 * 0.94)
    assert float(schedule(45)) == pytest.approx(0.045 * 0.94**2)
    assert opt.rho == pytest.approx(0.9) and opt.epsilon == pytest.approx(1.0)
    assert lr is not None


def test_zoo_cards_and_registries():
    from keras_rbf import cli, zoo

    for name in ("inception_resnet_v2_chest", "inception_resnet_v2_rbf_chest"):
        info = zoo.card(name)
        assert info["family"] == "chest" and info["weights"] is None
        assert "ChestX-ray14" in info["weights_note"]
        with pytest.raises(zoo.ZooError, match="ChestX-ray14"):
            zoo.load(name)  # no published weights: a clear error, before any build
    assert zoo.card("inception_resnet_v2_rbf_chest")["builder_kwargs"]["rbf"] is True
    assert cli.TRAINERS["chest"] == "keras_rbf.recipes.chest:main"
    assert cli.REPRODUCERS["chest"] == "keras_rbf.reports.chest:main"
