"""`keras-rbf` as a careless user meets it: every expected mistake is one line, exit 2.

Also: training writes only into its run folder, never into the package's zoo, and
`keras-rbf zoo publish` brings weights, sha256 and measurements over together.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keras_rbf import cli, zoo
from keras_rbf.cli_args import RENAMED, ArgumentParser


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("KERAS_RBF_ISIC2017_DIR", "KERAS_RBF_CHESTXRAY14_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _fails_in_one_line(capsys, argv) -> str:
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["train", "nosuchmodel"], "Unknown zoo model 'nosuchmodel'"),
        (["train", "cnn_mnsit"], "Did you mean 'cnn_mnist'"),
        (["zoo", "card", "nosuch"], "Unknown zoo model 'nosuch'"),
        (["zoo", "frobnicate"], "invalid choice: 'frobnicate'"),
        (["zoo", "publish", "no/such/run"], "not a finished `keras-rbf train` run folder"),
        (["reproduce", "mnits"], "did you mean 'mnist'?"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
        (["train"], "the following arguments are required: NAME"),
        (["train", "cnn_mnist", "--output-dir", "x"], "did you mean --out-dir?"),
        (["train", "cnn_mnist", "--epochs", "many"], "--epochs: 'many' is not a whole number"),
        # Counts below 1 once fell back to the card's epochs (0) or sliced from the end
        # of the test split (-5: all but five images), silently.
        (["train", "cnn_mnist", "--epochs", "0"], "--epochs: 0 is not a positive count"),
        (["train", "cnn_mnist", "--learning-rate", "-0.001"], "must be greater than 0"),
        (["reproduce", "mnist", "--n-test", "-5"], "--n-test: -5 is not a positive count"),
        (["reproduce", "mnist", "--n-spsa", "0"], "--n-spsa: 0 is not a positive count"),
        (["reproduce", "synthlesion", "--n-test", "0"], "--n-test: 0 is not a positive count"),
        (["reproduce", "chest", "--epochs", "0"], "--epochs: 0 is not a positive count"),
        (["audit", "--n-test", "0"], "--n-test: 0 is not a positive count"),
        (["audit", "m.keras", "--data", "mnist", "--norm", "l2"], "did you mean 'L2'?"),
        (
            ["audit", "m.keras", "--data", "mnist", "--suite", "standrad"],
            "did you mean 'standard'?",
        ),
        (["reproduce", "isic2017"], "ISIC"),
        (["export", "nosuchmodel", "out"], "neither a zoo model nor a .keras file"),
        (["reproduce", "mnist", "--entries", "cnn_mnist"], "--entries needs --seeds or --controls"),
        (["reproduce", "mnist", "--seeds", "--controls"], "not allowed with argument"),
        (
            ["reproduce", "mnist", "--controls", "--entries", "cnn_mnist"],
            "not among the models --controls evaluates",
        ),
    ],
)
def test_user_errors_are_one_line_and_exit_2(in_tmp, capsys, argv, says):
    assert says in _fails_in_one_line(capsys, argv)


def test_a_failed_command_leaves_no_empty_output_folder(in_tmp, capsys):
    _fails_in_one_line(capsys, ["reproduce", "isic2017"])
    assert not (in_tmp / "reports" / "isic2017").exists()


def test_export_onto_an_existing_file_says_what_to_do(in_tmp, capsys):
    (in_tmp / "taken").write_text("mine")
    assert cli.main(["export", "cnn_mnist", "taken", "--no-check"]) == 2
    err = capsys.readouterr().err
    assert "is an existing file, not a folder" in err and "Errno" not in err
    assert (in_tmp / "taken").read_text() == "mine"


# One zoo entry per training family: each family's recipe has its own parser.
TRAIN_NAMES = ["cnn_mnist", "unet_rbf_synthlesion", "inception_resnet_v2_chest"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["train", "--help"],
        ["reproduce", "--help"],
        ["zoo", "--help"],
        *(["reproduce", dataset, "--help"] for dataset in cli.REPRODUCERS),
        *(["train", name, "--help"] for name in TRAIN_NAMES),
        ["zoo", "list", "--help"],
        ["zoo", "card", "--help"],
        ["zoo", "publish", "--help"],
        *([command, "--help"] for command in cli.COMMANDS),
    ],
)
def test_help_works_for_every_subcommand(in_tmp, capsys, argv):
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's --help
        code = exit_.code
    assert code == 0
    assert "usage" in capsys.readouterr().out.lower()


class _Parsed(Exception):
    """Raised by a sub-command's parser instead of running the command (see `parse_only`)."""

    def __init__(self, parser, args):
        super().__init__(parser.prog)
        self.parser, self.namespace = parser, args


@pytest.fixture
def parse_only(monkeypatch):
    """`cli.main` up to the sub-command's own `parse_args`, which raises `_Parsed`.

    Tests each command's real parser, as the command builds it, without running it.
    """
    parse_args = ArgumentParser.parse_args

    def stop(self, args=None, namespace=None):
        parsed = parse_args(self, args, namespace)
        if self.prog == "keras-rbf":  # the top-level parser: go on to the sub-command
            return parsed
        raise _Parsed(self, parsed)

    monkeypatch.setattr(ArgumentParser, "parse_args", stop)

    def parse(argv: list[str]) -> _Parsed:
        with pytest.raises(_Parsed) as info:
            cli.main(argv)
        return info.value

    return parse


SHARED = {
    "--n-test": ("5", "n_test", 5),
    "--out-dir": ("d", "out_dir", "d"),
    "--batch-size": ("7", "batch_size", 7),
    "--seed": ("3", "seed", 3),
}
N_TEST, OUT_DIR, BATCH, SEED = SHARED


@pytest.mark.parametrize(
    "command, flags, seeds",
    [
        *(
            (["reproduce", d], [N_TEST, OUT_DIR, SEED], "attacks")
            for d in ("mnist", "fashion_mnist")
        ),
        *(
            (["reproduce", d], [N_TEST, OUT_DIR, SEED], "trained")
            for d in ("synthlesion", "isic2017")
        ),
        (["reproduce", "chest"], [OUT_DIR, BATCH, SEED], "attack"),
        *((["train", name], [OUT_DIR, BATCH, SEED], "weights") for name in TRAIN_NAMES),
        (["audit", "m.keras", "--data", "mnist"], [N_TEST, OUT_DIR, SEED], "attacks"),
    ],
)
def test_shared_flags_mean_the_same_in_every_command(in_tmp, parse_only, command, flags, seeds):
    argv = [*command]
    for flag in flags:
        argv += [flag, SHARED[flag][0]]
    parsed = parse_only(argv)
    for flag in flags:
        _, dest, value = SHARED[flag]
        assert getattr(parsed.namespace, dest) == value, (flag, parsed.parser.prog)
    seed = next(a for a in parsed.parser._actions if "--seed" in a.option_strings)
    assert seeds in seed.help, "--seed's help says what it seeds"
    assert parsed.parser.allow_abbrev is False


@pytest.mark.parametrize(
    "argv, new",
    [
        (["audit", "m.keras", "--data", "mnist", "--out-dir", "d", "--n", "5"], "--n-test"),
        (["audit", "m.keras", "--data", "mnist", "--out", "d"], "--out-dir"),
        (["reproduce", "mnist", "--n", "5"], "--n-test"),
        (["reproduce", "mnist", "--out", "d"], "--out-dir"),
        (["reproduce", "synthlesion", "--num-test", "5"], "--n-test"),
        (["reproduce", "synthlesion", "--out", "d"], "--out-dir"),
        (["reproduce", "chest", "--out", "d"], "--out-dir"),
        (["reproduce", "chest", "--out=d"], "--out-dir"),
        (["train", "cnn_mnist", "--out", "d"], "--out-dir"),
    ],
)
def test_old_spellings_are_refused_naming_the_new_flag(in_tmp, capsys, argv, new):
    old = next(a.split("=")[0] for a in argv if a.split("=")[0] in RENAMED)
    err = _fails_in_one_line(capsys, argv)
    assert f"unrecognized arguments: {old}" in err and f"did you mean {new}?" in err
    assert not (in_tmp / "d").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["reproduce", "mnist", "--n-te", "5"],
        ["reproduce", "synthlesion", "--n-te", "5"],
        ["audit", "m.keras", "--data", "mnist", "--out-dir", "d", "--n-te", "5"],
        ["train", "cnn_mnist", "--out-d", "d"],
        ["reproduce", "chest", "--batch", "4"],
        ["zoo", "publish", "runs/x", "--zoo", "z"],
    ],
)
def test_no_flag_is_abbreviated(in_tmp, capsys, argv):
    # With argparse's default, `--n-te` would be taken for `--n-test`, and so would the
    # old `--n`: a renamed flag would pass silently.
    err = _fails_in_one_line(capsys, argv)
    assert "unrecognized arguments" in err and "did you mean --" in err


def test_console_script_prints_no_traceback_and_no_tensorflow_logs(in_tmp):
    script = shutil.which("keras-rbf") or str(Path(sys.executable).parent / "keras-rbf")
    if not os.path.exists(script):
        pytest.skip("the keras-rbf console script is not installed in this environment")
    proc = subprocess.run(
        [script, "zoo", "card", "nosuch"],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        line for line in proc.stderr.strip().splitlines() if line.startswith("keras-rbf zoo:")
    ]


def _zoo_snapshot() -> dict[str, str]:
    return {
        str(p.relative_to(zoo.zoo_dir())): zoo.sha256(p)
        for p in sorted(zoo.zoo_dir().rglob("*"))
        if p.is_file()
    }


def test_training_without_full_mnist_says_which_file_and_how(in_tmp, capsys):
    err = _fails_in_one_line(capsys, ["train", "cnn_mnist", "--epochs", "1"])
    assert "no train / validation split" in err and "mnist.npz" in err
    assert "KERAS_RBF_MNIST" in err
    assert not (in_tmp / "runs").exists()  # nothing left behind by the refused run


def test_train_writes_a_run_folder_only_and_publish_copies_it_together(
    in_tmp, capsys, tiny_mnist_training
):
    before = _zoo_snapshot()
    assert cli.main(["train", "cnn_mnist", "--epochs", "1", "--batch-size", "256"]) == 0
    assert _zoo_snapshot() == before, "training wrote into the package's zoo"
    run = in_tmp / "runs" / "cnn_mnist"
    card = json.loads((run / "card.json").read_text())
    results = json.loads((run / "results.json").read_text())
    entry = card["weights"]["0"]
    assert entry["sha256"] == zoo.sha256(run / entry["file"])
    block = results["training"]["0"]
    assert block["weights_sha256"] == entry["sha256"] and block["history"]["epochs"] == 1
    assert block["command"] == "keras-rbf train cnn_mnist --epochs 1 --batch-size 256"
    # The run's own file loads, checked against the run's record beside it.
    assert zoo.load("cnn_mnist", weights=run / entry["file"]).count_params() > 0

    # Running the same command again must not overwrite the finished run.
    capsys.readouterr()
    err = _fails_in_one_line(capsys, ["train", "cnn_mnist", "--epochs", "1"])
    assert "already holds a finished run" in err

    # Publishing into a checkout's zoo copy: weights, sha256 and results together, and
    # the robustness numbers measured on the old weights are dropped.
    target = in_tmp / "checkout_zoo"
    shutil.copytree(zoo.zoo_dir() / "cnn_mnist", target / "cnn_mnist")
    results_path = target / "cnn_mnist" / "results.json"
    recorded = json.loads(results_path.read_text())
    # Robustness blocks of seeds 0 and 1, as `reproduce --record-in` writes them.
    for seed in ("0", "1"):
        sha = recorded["training"][seed]["weights_sha256"]
        recorded.setdefault("robustness", {})[seed] = {"accuracy": {}, "weights_sha256": sha}
    results_path.write_text(json.dumps(recorded))
    before = recorded["robustness"]
    assert cli.main(["zoo", "publish", str(run), "--zoo-dir", str(target)]) == 0
    published = json.loads((target / "cnn_mnist" / "card.json").read_text())
    assert published["weights"]["0"] == entry
    assert zoo.sha256(target / "cnn_mnist" / entry["file"]) == entry["sha256"]
    res = json.loads((target / "cnn_mnist" / "results.json").read_text())
    assert res["training"]["0"] == block
    # Seed 0's robustness was measured on the replaced weights; other seeds' stays.
    assert set(res["robustness"]) == set(before) - {"0"}


def test_publish_refuses_an_installed_package(in_tmp, capsys):
    import sysconfig

    site_zoo = Path(sysconfig.get_paths()["purelib"]) / "keras_rbf" / "_zoo_files"
    from keras_rbf.errors import UserError
    from keras_rbf.publish import source_zoo_dir

    with pytest.raises(UserError, match="inside an installed package"):
        source_zoo_dir(site_zoo)
    with pytest.raises(UserError, match="not a keras-rbf source checkout"):
        source_zoo_dir(None)  # in_tmp is no checkout
