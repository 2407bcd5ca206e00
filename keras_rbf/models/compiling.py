"""How the zoo's models are compiled where a report fine-tunes or trains one in its run.

(The training recipes compile with the same functions, so a model trained in a report and
one trained by `keras-rbf train` see the same optimizer and loss.)
"""

from __future__ import annotations

import keras

__all__ = ["compile_segmentation"]


def compile_segmentation(
    model: keras.Model, learning_rate: float = 1.0, rho: float = 0.95
) -> keras.Model:
    """Compiles with the paper's ADADELTA and per-pixel softmax cross-entropy on logits.

    Args:
        model: a U-Net or V-Net (logits out).
        learning_rate, rho: ADADELTA's settings (paper 5.2: 1.0, 0.95).

    Returns:
        `model`, compiled.
    """
    model.compile(
        optimizer=keras.optimizers.Adadelta(learning_rate=learning_rate, rho=rho),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model
