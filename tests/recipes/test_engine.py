"""The shared training engine: an interrupted `keras-rbf train` resumes with its whole history."""

from __future__ import annotations

import json

import pytest

from keras_rbf import cli
from keras_rbf.recipes import engine


def test_interrupted_training_resumes_with_the_complete_history(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "cnn_mnist", "--epochs", "3", "--batch-size", "512"]
    original = engine.HistoryLog.on_epoch_end

    def interrupt_after_second_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt  # what Ctrl-C (SIGINT) raises in the training loop

    monkeypatch.setattr(engine.HistoryLog, "on_epoch_end", interrupt_after_second_epoch)
    assert cli.main(argv) == 130
    run = tmp_path / "runs" / "cnn_mnist"
    assert not (run / "card.json").exists() and (run / "backup").is_dir()
    assert "resumes when the same command is run again" in capsys.readouterr().err

    monkeypatch.setattr(engine.HistoryLog, "on_epoch_end", original)
    assert cli.main(argv) == 0
    assert "resuming from epoch 3" in capsys.readouterr().out
    history = json.loads((run / "results.json").read_text())["training"]["0"]["history"]
    assert history["epochs"] == 3
    assert len(history["loss"]) == len(history["seconds_per_epoch"]) == 3
    assert all(v > 0 for v in history["loss"])


def test_history_log_drops_epochs_lost_with_the_interruption(tmp_path):
    log = engine.HistoryLog(tmp_path / "history.jsonl")
    log.path.write_text(
        "".join(
            json.dumps({"epoch": e, "seconds": 1.0, "loss": 1.0 / (e + 1)}) + "\n" for e in range(4)
        )
    )

    class Model:
        _initial_epoch = 2

    log.set_model(Model())
    log.on_train_begin()
    assert [r["epoch"] for r in log.records()] == [0, 1]
    assert log.history()["loss"] == pytest.approx([1.0, 0.5])
