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
