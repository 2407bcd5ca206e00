"""Packaging: every package folder is installed, the CLI and registries resolve."""

import configparser
import importlib
from pathlib import Path

import pytest

import keras_rbf
from keras_rbf import cli, datasets

ROOT = Path(__file__).resolve().parent.parent


def test_setup_cfg_lists_every_package_folder():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "keras_rbf").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to setup.cfg [options] packages"


@pytest.mark.parametrize(
    "target",
    sorted(
        {
            *cli.REPRODUCERS.values(),
            *cli.TRAINERS.values(),
            *cli.COMMANDS.values(),
            *datasets.LOADERS.values(),
        }
    ),
)
def test_registry_targets_import(target):
    module, _, func = target.partition(":")
    assert callable(getattr(importlib.import_module(module), func))


def test_public_api():
    assert {"RBFMapping", "rbf_block"} <= set(keras_rbf.__all__)


def test_cli_zoo_list_and_unknown_command(capsys):
    assert cli.main(["zoo", "list"]) == 0
    assert "cnn_rbf_mnist" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
