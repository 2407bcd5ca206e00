"""The segmentation zoo cards: ISIC 2017 entries without weights, synthlesion entries
named synthetic."""

import pytest

from keras_rbf import zoo
from keras_rbf.evaluate import rbf_layers


def test_skin_zoo_entries_need_real_weights_and_build_without():
    with pytest.raises(zoo.ZooError) as err:
        zoo.load("unet_rbf_skin")
    msg = str(err.value)
    assert "ISIC 2017" in msg and "keras-rbf train unet_rbf_skin --data-dir" in msg
    assert "weights=None" in msg and "runs/unet_rbf_skin/unet_rbf_skin.weights.h5" in msg
    model = zoo.load("unet_rbf_skin", weights=None, input_shape=(32, 32, 3), encoder_filters=2)
    assert model.output_shape == (None, 32, 32, 2) and rbf_layers(model)
    for name in ("unet_skin", "unet_rbf_skin", "vnet_skin", "vnet_rbf_skin"):
        card = zoo.card(name)
        assert card["weights"] is None and card["dataset"]["name"] == "isic2017"
        assert card["family"] == "segmentation"


def test_synthlesion_cards_are_named_synthetic():
    for name in zoo.list():
        if "synthlesion" in name:
            card = zoo.card(name)
            assert card["dataset"]["name"] == "synthlesion"
            assert "SYNTHETIC" in card["dataset"]["description"]
            assert "skin" not in name
            if card["weights"]:
                live = zoo.results(name)["training"]["0"]["rbf_live_fraction_test"]
                assert bool(card["builder_kwargs"]["rbf"]) == bool(live)
