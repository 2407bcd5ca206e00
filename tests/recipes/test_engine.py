"""The shared training engine: an interrupted `keras-rbf train` resumes with its whole history."""

from __future__ import annotations

import json

import pytest

from keras_rbf import cli
from keras_rbf.recipes import engine


def _tiny_segmentation_data(monkeypatch, tmp_path) -> list[str]:
    """32 synthetic-lesion training images instead of the card's 1,024 (same recipe)."""
    from keras_rbf.recipes import segmentation

    real = segmentation.load_data

    def small(dataset, data_dir=None):
        return {k: (x[:32], y[:32]) for k, (x, y) in real(dataset, data_dir).items()}

    monkeypatch.setattr(segmentation, "load_data", small)
    return ["--batch-size", "16"]


def _tiny_chest_data(monkeypatch, tmp_path) -> list[str]:
    """A ChestX-ray14 fixture in the official layout and a one-block-per-stage network."""
    from keras_rbf.datasets.chestxray14 import write_fixture

    data = write_fixture(tmp_path / "cxr14", negatives=12, positives=12, size=80)
    return [
        "--data-dir", str(data), "--image-size", "75", "--blocks", "1", "1", "1",
        "--fraction", "0.0002", "--steps-per-epoch", "1", "--batch-size", "4",
    ]  # fmt: skip


FAMILIES = {
    "cnn": ("cnn_rbf_mnist", lambda monkeypatch, tmp_path: ["--batch-size", "512"]),
    "segmentation": ("unet_rbf_synthlesion", _tiny_segmentation_data),
    "chest": ("inception_resnet_v2_rbf_chest", _tiny_chest_data),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_interrupted_training_resumes_with_the_complete_history(
    family, tmp_path, monkeypatch, capsys, tiny_mnist_training
):
    name, setup = FAMILIES[family]
    monkeypatch.chdir(tmp_path)
    argv = ["train", name, "--epochs", "3", *setup(monkeypatch, tmp_path)]
    original = engine.HistoryLog.on_epoch_end

    def interrupt_after_second_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt  # what Ctrl-C (SIGINT) raises in the training loop

    monkeypatch.setattr(engine.HistoryLog, "on_epoch_end", interrupt_after_second_epoch)
    assert cli.main(argv) == 130
    run = tmp_path / "runs" / name
    assert not (run / "card.json").exists() and (run / "backup").is_dir()
    assert "resumes when the same command is run again" in capsys.readouterr().err
    first_two = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in first_two] == [0, 1]

    monkeypatch.setattr(engine.HistoryLog, "on_epoch_end", original)
    assert cli.main(argv) == 0
    assert "resuming from epoch 3" in capsys.readouterr().out
    history = json.loads((run / "results.json").read_text())["training"]["0"]["history"]
    assert history["epochs"] == 3
    assert len(history["loss"]) == len(history["seconds_per_epoch"]) == 3
    # The two epochs before the interruption are kept as they were logged.
    assert history["loss"][:2] == pytest.approx([r["loss"] for r in first_two])
    assert all(v > 0 for v in history["loss"])
    assert not (run / "backup").exists()  # BackupAndRestore removes it after a finished fit


def test_history_log_drops_epochs_lost_with_the_interruption(tmp_path):
    log = engine.HistoryLog(tmp_path / "history.jsonl")
    log.path.write_text(
        "".join(
            json.dumps({"epoch": e, "seconds": 1.0, "loss": 1.0 / (e + 1)}) + "\n" for e in range(4)
        )
    )

    log.on_train_begin()
    log.on_epoch_begin(2)  # a resumed fit starts at the epoch after its last backup
    assert [r["epoch"] for r in log.records()] == [0, 1]
    assert log.history()["loss"] == pytest.approx([1.0, 0.5])
    log.on_epoch_end(2, {"loss": 0.25})
    log.on_epoch_begin(3)  # later epochs of the same fit keep what came before
    assert [r["epoch"] for r in log.records()] == [0, 1, 2]


def test_the_first_epochs_of_a_longer_run_are_the_shorter_run(
    tmp_path, monkeypatch, tiny_mnist_training
):
    """What `training/select_epochs.py` relies on: with op determinism and Adam at a
    constant rate, `--keep-epochs`' weights after epoch 1 of a 2-epoch run are the weights
    of the 1-epoch run, bit for bit, so choosing epochs afterwards needs no retraining."""
    import numpy as np

    from keras_rbf import zoo

    monkeypatch.chdir(tmp_path)
    base = ["train", "cnn_rbf_mnist", "--batch-size", "500", "--seed", "3"]
    assert cli.main([*base, "--epochs", "2", "--keep-epochs", "--out-dir", "two"]) == 0
    assert cli.main([*base, "--epochs", "1", "--out-dir", "one"]) == 0
    assert sorted(p.name for p in (tmp_path / "two" / "epochs").iterdir()) == [
        "epoch001.weights.h5",
        "epoch002.weights.h5",
    ]
    first, one = zoo.build("cnn_rbf_mnist"), zoo.build("cnn_rbf_mnist")
    first.load_weights(str(tmp_path / "two" / "epochs" / "epoch001.weights.h5"))
    one.load_weights(str(tmp_path / "one" / "cnn_rbf_mnist.seed3.weights.h5"))
    for a, b in zip(first.get_weights(), one.get_weights()):
        np.testing.assert_array_equal(a, b)
    last = zoo.build("cnn_rbf_mnist")
    last.load_weights(str(tmp_path / "two" / "epochs" / "epoch002.weights.h5"))
    assert any(not np.array_equal(a, b) for a, b in zip(last.get_weights(), one.get_weights()))

    # A step schedule keeps the prefix (epoch 1 is the constant run's) and changes what
    # follows the drop; the card records it.
    drop = ["--epochs", "2", "--keep-epochs", "--lr-drop-epoch", "1", "--out-dir", "drop"]
    assert cli.main([*base, *drop]) == 0
    dropped = zoo.build("cnn_rbf_mnist")
    dropped.load_weights(str(tmp_path / "drop" / "epochs" / "epoch001.weights.h5"))
    for a, b in zip(dropped.get_weights(), one.get_weights()):
        np.testing.assert_array_equal(a, b)
    dropped.load_weights(str(tmp_path / "drop" / "epochs" / "epoch002.weights.h5"))
    assert any(not np.array_equal(a, b) for a, b in zip(dropped.get_weights(), last.get_weights()))
    card = json.loads((tmp_path / "drop" / "card.json").read_text())
    assert card["training"]["lr_drop_epoch"] == 1


def test_select_epochs_takes_the_argmax_of_the_mean_validation_curve():
    from training.select_epochs import choose_epochs, cut_history

    curves = [
        {"val_accuracy": [0.90, 0.95, 0.94]},
        {"val_accuracy": [0.91, 0.93, 0.96, 0.99]},
    ]  # over the 3 epochs both reached, means 0.905, 0.94, 0.95: epoch 3 wins, though run 0
    # peaks earlier and run 1's fourth epoch (not reached by run 0) is higher still
    epochs, mean = choose_epochs(curves)
    assert epochs == 3 and mean.tolist() == pytest.approx([0.905, 0.94, 0.95])
    assert choose_epochs(curves, max_epochs=2)[0] == 2
    curves[1]["val_accuracy"][2] = 0.92
    assert choose_epochs(curves)[0] == 2
    history = {"epochs": 3, "loss": [3, 2, 1], "live_fraction": {"b1": [1.0, 0.9, 0.8]}}
    assert cut_history(history, 2) == {
        "epochs": 2,
        "loss": [3, 2],
        "live_fraction": {"b1": [1.0, 0.9]},
    }


@pytest.mark.parametrize("family", ["cnn", "chest"])
def test_a_worker_that_is_not_the_chief_writes_no_run(
    family, tmp_path, monkeypatch, tiny_mnist_training
):
    """Chief logic lives in `engine.run` alone: every family's non-chief worker trains
    (backing up beside the chief) but writes no weights, card or results. The CHEST
    recipe once hard-coded `chief=True` whatever `--strategy multiworker` said."""
    import types

    from keras_rbf import distribute

    name, setup = FAMILIES[family]
    monkeypatch.chdir(tmp_path)
    real_start = engine.start

    def start_as_worker_1(*args, **kwargs):
        run_dir, strategy = real_start(*args, **kwargs)
        worker = types.SimpleNamespace(
            scope=strategy.scope, cluster_resolver=types.SimpleNamespace(task_id=1)
        )
        return run_dir, worker

    fits = []
    real_fit = engine.fit

    def fit_and_note(model, run_dir, data, chief, worker=0, **kwargs):
        fits.append((chief, worker))
        return real_fit(model, run_dir, data, chief, worker, **kwargs)

    monkeypatch.setattr(engine, "start", start_as_worker_1)
    monkeypatch.setattr(engine, "fit", fit_and_note)
    monkeypatch.setattr(distribute, "is_chief", lambda strategy=None: False)
    argv = ["train", name, "--epochs", "1", *setup(monkeypatch, tmp_path)]
    assert cli.main(argv) == 0
    run = tmp_path / "runs" / name
    written = sorted(p.name for p in run.iterdir()) if run.exists() else []
    assert "card.json" not in written and "results.json" not in written, written
    assert not list(run.glob("*.weights.h5"))
    assert fits == [(False, 1)]  # it trained, as worker 1
