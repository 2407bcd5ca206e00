"""The strong suite every report carries, modelled on AutoAttack (Croce & Hein, ICML 2020).

- `suite="cpu"` (default): APGD-CE (100 steps) -> APGD-DLR (100 steps) -> Square
  (1,000 queries);
- `suite="standard"`: AutoAttack's standard version without FAB-T: APGD-CE -> APGD-T
  (9 target classes, 100 steps each) -> Square (5,000 queries, schedule not rescaled).

Each attack runs only on the images still standing, so the result is the per-example
worst case; an image counts as broken when the model misclassifies the adversarial
image the attack returned (re-evaluated here, so every image counted broken is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from keras_rbf.attacks.apgd import APGDCE, APGDDLR, APGDT
from keras_rbf.attacks.base import Attack, check_images, check_positive, check_seed, logits_fn
from keras_rbf.attacks.square import Square

__all__ = ["SUITES", "StrongSuite", "SuiteResult", "as_logits"]

# name -> [(component name, class, settings beyond eps and seed)]
SUITES: dict[str, list[tuple[str, type, dict]]] = {
    "cpu": [
        ("apgd-ce", APGDCE, {"nb_iter": 100}),
        ("apgd-dlr", APGDDLR, {"nb_iter": 100}),
        ("square", Square, {"n_queries": 1000}),
    ],
    "standard": [
        ("apgd-ce", APGDCE, {"nb_iter": 100}),
        ("apgd-t", APGDT, {"nb_iter": 100, "n_target_classes": 9}),
        ("square", Square, {"n_queries": 5000, "rescale_schedule": False}),
    ],
}


@dataclass
class SuiteResult:
    """What a suite run found.

    Attributes:
        x_adv: `(N, ...)` float32 adversarial images (misclassified ones where found).
        robust: `(N,)` bool, still classified correctly after every attack.
        components: robust accuracy over all N (clean mistakes count as broken),
            cumulative after each attack in order, e.g.
            `{"clean": .97, "apgd-ce": .05, "apgd-dlr": .04, "square": .04}`.
        broken_by: `(N,)` str, the first attack that broke each image ("clean" for a
            clean mistake, "" for a robust image).
        note: how the model was attacked when not through its raw outputs, or which
            stages were left out or cut for too few classes ("" if neither).
    """

    x_adv: np.ndarray
    robust: np.ndarray
    components: dict[str, float]
    broken_by: np.ndarray
    note: str = field(default="")


def as_logits(model: Callable, x_probe: np.ndarray) -> tuple[Callable, str]:
    """A callable images -> logits for `model`, and a note saying what was done.

    A model whose outputs on `x_probe` are probabilities (every row in [0, 1], summing
    to 1) is wrapped to return their logarithm: log-softmax differs from the logits by
    a constant per row, so argmax, margins and the cross-entropy are unchanged. Where
    the softmax saturates in float32 the log is flat and gradients vanish, which is
    gradient masking; the note says so.

    Args:
        model: a Keras model or a callable images -> scores.
        x_probe: a few `(n, ...)` images to look at the outputs.

    Returns:
        `(fn, note)`: `fn` maps images to logits; `note` is "" when the outputs were
        used as they are.
    """
    fn = logits_fn(model)
    out = np.asarray(fn(tf.constant(np.asarray(x_probe, np.float32))), np.float64)
    if out.ndim != 2 or out.shape[-1] < 2:
        raise ValueError(
            f"the model must output (N, classes) scores with at least 2 "
            f"classes, got shape {out.shape}"
        )
    is_prob = out.min() >= 0.0 and out.max() <= 1.0 and np.allclose(out.sum(-1), 1.0, atol=1e-3)
    if not is_prob:
        return fn, ""

    def log_probabilities(x):
        return tf.math.log(tf.maximum(tf.cast(fn(x), tf.float32), 1e-30))

    return log_probabilities, (
        "the model outputs probabilities; it was attacked through "
        "their logarithm (where softmax saturates in float32, "
        "gradients vanish and only Square still sees the model)"
    )


class StrongSuite(Attack):
    """AutoAttack-style per-example worst case over APGD-CE, APGD-DLR or APGD-T, Square.

    Settings:
        eps: L-inf radius (> 0).
        suite: "cpu" or "standard" (see `SUITES`).
        seed: seed of every component's random numbers.

    Example:
        >>> result = StrongSuite(model, eps=0.3).run(x, y)
        >>> result.components   # {"clean": ..., "apgd-ce": ..., "apgd-dlr": ..., "square": ...}
    """

    DEFAULTS = dict(eps=0.3, suite="cpu", seed=0)
    name = "strong"

    def _validate(self) -> None:
        s = self._settings
        check_positive(self, "eps", s["eps"])
        if s["suite"] not in SUITES:
            raise ValueError(
                f"StrongSuite: suite must be one of {sorted(SUITES)}, got {s['suite']!r}"
            )
        check_seed(self, s["seed"])

    @property
    def settings(self) -> dict:
        """The suite's settings and each component's, in order."""
        s = self._settings
        return {
            **s,
            "components": [
                {"name": name, **cls.DEFAULTS, **extra, "eps": s["eps"], "seed": s["seed"]}
                for name, cls, extra in SUITES[s["suite"]]
            ],
        }

    def generate(self, x, y) -> np.ndarray:
        """Adversarial images: `run(x, y).x_adv`."""
        return self.run(x, y).x_adv

    def run(self, x, y) -> SuiteResult:
        """Runs the suite's attacks in order, each on the images still standing.

        Args:
            x: `(N, ...)` images in [0, 1]; y: `(N,)` integer labels.

        Returns:
            a `SuiteResult`.
        """
        x, y = check_images(x, y)
        s = self._settings
        n = len(x)
        fn, log_note = as_logits(self.model, x[:8]) if n else (logits_fn(self.model), "")
        stages, skipped = self._stages(fn, x)
        note = "; ".join(filter(None, [log_note, skipped]))
        x_adv = x.copy()
        robust = self._predict(fn, x) == y
        broken_by = np.where(robust, "", "clean").astype(object)
        components = {"clean": float(robust.mean()) if n else float("nan")}
        for name, cls, extra in tqdm(
            stages, desc="strong suite", disable=not self.progress, leave=False
        ):
            todo = np.flatnonzero(robust)
            if todo.size:
                # The model itself where it gives logits, so compiled loops are reused.
                attack = cls(
                    fn if log_note else self.model,
                    batch_size=self.batch_size,
                    progress=self.progress,
                    **extra,
                    eps=s["eps"],
                    seed=s["seed"],
                )
                adv = attack.generate(x[todo], y[todo])
                hit = self._predict(fn, adv) != y[todo]
                x_adv[todo[hit]] = adv[hit]
                robust[todo[hit]] = False
                broken_by[todo[hit]] = name
            components[name] = float(robust.mean()) if n else float("nan")
        return SuiteResult(
            x_adv=x_adv,
            robust=robust,
            components=components,
            broken_by=broken_by.astype(str),
            note=note,
        )

    def _stages(self, fn: Callable, x: np.ndarray) -> tuple[list, str]:
        """The suite's stages fitted to the model's number of classes, and a note.

        DLR divides by `z_pi1 - z_pi3` and targeted DLR by `z_pi1 - (z_pi3 + z_pi4) / 2`,
        so with fewer classes those stages are left out; APGD-T takes at most
        `classes - 1` targets (as AutoAttack does).
        """
        stages = SUITES[self._settings["suite"]]
        if not len(x):
            return stages, ""
        n_classes = int(np.asarray(fn(tf.constant(x[:1]))).shape[-1])
        out, notes = [], []
        for name, cls, extra in stages:
            need = 4 if cls is APGDT else 3 if cls is APGDDLR else 2
            if n_classes < need:
                notes.append(
                    f"{name} left out: it needs at least {need} classes, the model has {n_classes}"
                )
                continue
            if cls is APGDT and extra["n_target_classes"] > n_classes - 1:
                extra = {**extra, "n_target_classes": n_classes - 1}
                notes.append(
                    f"{name} runs {n_classes - 1} target classes (the model has "
                    f"{n_classes} classes)"
                )
            out.append((name, cls, extra))
        return out, "; ".join(notes)

    def _predict(self, fn: Callable, x: np.ndarray) -> np.ndarray:
        out = [
            np.argmax(np.asarray(fn(tf.constant(x[i : i + self.batch_size]))), -1)
            for i in range(0, len(x), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, np.int64)
