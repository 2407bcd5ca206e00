"""Training callbacks that make the state of a model's RBF layers visible.

`RBFMonitor` records, per epoch and per `RBFMapping` layer, the fraction of live
activations (docs/design.md: a dead layer is a defect to fix, never a source of robustness)
and the Frobenius norm of the change of Psi (the paper's Fig. 6).
"""

from __future__ import annotations

import keras
import numpy as np

from keras_rbf.evaluate import rbf_layers, rbf_live_fractions

__all__ = ["RBFMonitor", "rbf_layers", "rbf_live_fractions"]


class RBFMonitor(keras.callbacks.Callback):
    """Records live fractions and ||Psi_t - Psi_{t-1}||_F of every RBF layer each epoch.

    Args:
        x_probe: a fixed batch of model inputs on which live fractions are measured.
        model: the model to watch when it is not the one being fit (the wrapped model
            of an `AdversarialTrainer`, say); default the fit model.

    Attributes:
        history: `{"live_fraction": {layer: [per epoch]}, "psi_change": {layer: [...]}}`;
            entry 0 of "live_fraction" is measured before training.
    """

    def __init__(self, x_probe: np.ndarray, model: keras.Model | None = None):
        super().__init__()
        self.x_probe = x_probe
        self._watched = model
        self.history: dict = {"live_fraction": {}, "psi_change": {}}
        self._last_psi: dict = {}

    @property
    def watched(self) -> keras.Model:
        return self._watched if self._watched is not None else self.model

    def _record_live(self) -> None:
        for name, frac in rbf_live_fractions(self.watched, self.x_probe).items():
            self.history["live_fraction"].setdefault(name, []).append(frac)

    def on_train_begin(self, logs=None):
        if not self.history["live_fraction"]:
            self._record_live()
        for layer in rbf_layers(self.watched):
            self._last_psi[layer.name] = keras.ops.convert_to_numpy(layer.psi)

    def on_epoch_end(self, epoch, logs=None):
        self._record_live()
        for layer in rbf_layers(self.watched):
            psi = keras.ops.convert_to_numpy(layer.psi)
            change = float(np.linalg.norm(psi - self._last_psi[layer.name]))
            self.history["psi_change"].setdefault(layer.name, []).append(change)
            self._last_psi[layer.name] = psi
        if logs is not None:  # so that the engine's HistoryLog records them too
            for name, values in self.history["live_fraction"].items():
                logs[f"{name}_live"] = values[-1]
            for name, values in self.history["psi_change"].items():
                logs[f"{name}_psi_change"] = values[-1]
