"""The published zoo weights load into the builders and reproduce their cards' numbers.

`tests/test_zoo.py` rechecks the CNN entries' clean accuracy; this file does the same
for the segmentation entries (Dice on the synthlesion test split), so that a change of
builder signature or layer names that breaks a weight file fails here.
"""

import pytest

from keras_rbf import datasets, zoo
from keras_rbf.recipes.segmentation import evaluate_segmentation

SEGMENTATION_WITH_WEIGHTS = [
    name
    for name in zoo.list()
    if zoo.entry(name).family == "segmentation" and zoo.entry(name).weights
]


def test_there_are_segmentation_weights_to_check():
    assert len(SEGMENTATION_WITH_WEIGHTS) >= 2


@pytest.mark.parametrize("name", SEGMENTATION_WITH_WEIGHTS)
def test_segmentation_weights_reproduce_the_card_dice(name):
    info = zoo.card(name)
    data = info["dataset"]
    x, y = datasets.load(data["name"], splits=("test",), **data.get("kwargs", {}))["test"]
    model = zoo.load(name)
    dice = evaluate_segmentation(model, x, y)["dice"]
    card = zoo.results(name)["training"]["0"]["clean_test"]["dice"]
    assert dice["n"] == card["n"] == len(x)
    assert abs(dice["mean"] - card["mean"]) <= 1e-3, (dice, card)
